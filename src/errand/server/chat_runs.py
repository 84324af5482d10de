"""A chat completion (or response) with ``model: "errand"`` is a durable run, and a write is
approved in the conversation itself.

Each request's last user message becomes a run, started the one way the server starts runs
(`errand.server.runs_api.start_run`: the key's and the server's limits, its tokens charged
when it ends), with the client's earlier messages as the conversation it starts from. The
chat answer is the run's event stream, translated: reasoning as it comes, the answer once the
run commits to it (its ``run_finished``), and, when the run stops for a confirmation, the
confirmation's own words and price, then a line asking for yes or no with an approval token.

The client's next request carries that assistant message back (OpenAI clients send the whole
conversation). When its last user message is a plain yes or no (`reply_of`), the token is
redeemed: checked here, then the waiting run is approved or rejected through `Runs.approve` /
`Runs.reject` (the path ``/v1/runs/{id}/approve`` takes), and the rest of that run is the
answer. Any other reply cancels the run the token names (when it is this key's and still
waits) and is a new request, starting from the whole conversation.

**The token** is ``apv.<run id>.<event>.<expiry>.<mac>``: an HMAC-SHA256 (128 bits kept) over
the run id, the number of the ``confirmation_required`` event shown, the API key's id and the
expiry, keyed with a random secret made for the run and kept in its stored options (never
shown). So any replica can check it with nothing but the run log, no server-wide secret needs
configuring or rotating, and a token is good for exactly one confirmation of one run, for the
key it was shown to, until it expires (``ERRAND_CONFIRMATION_EXPIRY_S``, as long as the run
waits anyway). Another user's run is 404; a token that does not check out, was shown to another
key, or has expired is 400; a confirmation already answered is 409. None moves any money.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
import time
import unicodedata
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from errand.errors import ErrandError, ModelResponseError, RequestError, RunConflict, RunInputError
from errand.llm.types import (
    Finish,
    ImagePart,
    Message,
    ModelEvent,
    ReasoningDelta,
    TextDelta,
    TextPart,
    Usage,
    UsageEvent,
)
from errand.runs.request import build_request
from errand.server.keys import ApiKey
from errand.server.runs_api import start_run
from errand.server.state import ServerState
from errand.services.wallet.money import money_text

YES = frozenset({"yes", "y", "ok", "okay", "sure", "confirm", "approve", "go ahead"})
YES_ZH = frozenset({"是", "是的", "好", "好的", "可以", "确认", "同意", "行"})
NO = frozenset({"no", "n", "nope", "cancel", "reject", "don't", "stop"})
NO_ZH = frozenset({"不", "不要", "不用", "不了", "取消", "拒绝", "算了"})
"""The replies that answer a confirmation, the whole message (case, spaces and end punctuation
aside). Kept small on purpose: money moves only on an unmistakable yes; anything longer
("yes, but two seats") is a new request."""

TOKEN = re.compile(r"apv\.(run_[A-Za-z0-9]{1,60})\.(\d{1,12})\.(\d{1,12})\.([0-9a-f]{32})")
ASK_LINE = "Reply **yes** to go ahead or **no** to cancel (approval `{token}`)."
"""The last line of an assistant message that waits for a confirmation."""
_PUNCTUATION = " \t\r\n.!?,;:。！？，；：~…"


def reply_of(text: str) -> bool | None:
    """True for a yes, False for a no, None for anything else (a new request)."""
    said = unicodedata.normalize("NFKC", text).strip(_PUNCTUATION).casefold()
    said = " ".join(said.split())
    if said in YES or said in YES_ZH:
        return True
    if said in NO or said in NO_ZH:
        return False
    return None


@dataclass(frozen=True)
class Token:
    """An approval token as read from an assistant message."""

    run_id: str
    event: int
    """The number of the ``confirmation_required`` event it answers."""
    expires: int
    """Unix seconds."""
    mac: str


def _mac(secret: str, run_id: str, event: int, key_id: str, expires: int) -> str:
    signed = f"{run_id}|{event}|{key_id}|{expires}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()[:32]


def mint(secret: str, run_id: str, event: int, key_id: str, expires: int) -> str:
    """The token for confirmation ``event`` of ``run_id``, shown to ``key_id`` until ``expires``."""
    return f"apv.{run_id}.{event}.{expires}.{_mac(secret, run_id, event, key_id, expires)}"


def find_token(text: str) -> Token | None:
    """The last approval token in ``text``, if any."""
    found = TOKEN.findall(text)
    if not found:
        return None
    run_id, event, expires, mac = found[-1]
    return Token(run_id, int(event), int(expires), mac)


def without_tokens(text: str) -> str:
    """An assistant message as the model should read it again: without the approval line."""
    return "\n".join(line for line in text.splitlines() if not TOKEN.search(line)).strip()


def confirmation_text(pending: dict[str, Any], token: str) -> str:
    """What the run will do and what it costs (the confirmation's own summary), then the ask."""
    summary = str(pending.get("summary") or pending.get("name") or "This action").strip()
    amount, currency = pending.get("amount"), pending.get("currency")
    lines = [summary]
    if isinstance(amount, int) and currency:
        price = money_text(amount, str(currency))
        if price not in summary:
            lines.append(f"Cost: {price}.")
    return "\n\n".join([*lines, ASK_LINE.format(token=token)])


async def _check(state: ServerState, key: ApiKey, token: Token, where: str) -> Any:
    """The run ``token`` names, once the token checks out for this key (404, 400 or 409 otherwise)."""
    runs = state.require_runs()
    record = await runs.get(key.user, token.run_id)  # another user's run: 404, as everywhere
    secret = str((await runs.options(key.user, token.run_id)).get("approval_secret") or "")
    expected = _mac(secret, token.run_id, token.event, key.id, token.expires) if secret else ""
    if not expected or not hmac.compare_digest(expected, token.mac):
        raise RequestError(
            f"The approval token in {where} was not issued to this API key for run {token.run_id}; "
            f"nothing was approved. Approve it with the key that started it, or POST "
            f"/v1/runs/{token.run_id}/approve.",
            param=where,
            code="invalid_approval_token",
        )
    if token.expires < time.time():
        raise RequestError(
            f"The approval token in {where} has expired; nothing was approved. "
            f"See GET /v1/runs/{token.run_id}, or send the request again.",
            param=where,
            code="approval_token_expired",
        )
    pending = record.pending if str(record.status) == "awaiting_confirmation" else None
    if pending is None or int(pending.get("seq") or 0) != token.event:
        raise RunConflict(
            f"Run {token.run_id} no longer waits for that confirmation (it is {record.status}); "
            "nothing was approved. See GET /v1/runs/" + token.run_id + "."
        )
    return record


@dataclass
class AgentRun:
    """The run a request started or answered, and its answer as model events."""

    run_id: str
    events: AsyncGenerator[ModelEvent, None]


async def agent_run(state: ServerState, key: ApiKey, messages: list[Message], where: list[str]) -> AgentRun:
    """Answer the conversation's last user message with a run: redeem a yes or no to a waiting
    confirmation, or start a new run from the conversation."""
    *history, last = messages
    before = history[-1] if history and history[-1].role == "assistant" else None
    token = find_token(before.text) if before is not None else None
    reply = reply_of(last.text) if not images_of(last) else None
    runs = state.require_runs()
    if token is not None and reply is not None:
        record = await _check(state, key, token, f"{where[-2]}.content")
        if reply:
            await runs.approve(key.user, record.id, note="approved in the chat")
        else:
            await runs.reject(key.user, record.id, note="The user said no in the chat.")
        return AgentRun(record.id, answer_events(state, key, record.id, after=token.event))
    if token is not None:  # another request: the run that waited for a yes or no is cancelled
        with contextlib.suppress(ErrandError):  # not this key's, expired, no longer waiting: none
            await runs.cancel(key.user, (await _check(state, key, token, where[-2])).id)
    earlier = await asyncio.to_thread(_earlier, state, history, where)
    try:
        record = await start_run(
            state,
            key,
            last.text,
            images=images_of(last),
            earlier=earlier,
            approval_secret=secrets.token_hex(32),
        )
    except RunInputError as exc:
        raise RequestError(str(exc), param=f"{where[-1]}.content") from None
    return AgentRun(record.id, answer_events(state, key, record.id, after=0))


def images_of(message: Message) -> list[str]:
    """The image URLs of a message."""
    if not isinstance(message.content, list):
        return []
    return [p.url for p in message.content if isinstance(p, ImagePart)]


def _earlier(state: ServerState, history: list[Message], where: list[str]) -> list[Message]:
    """The conversation before the last message, as the run starts from it: user and assistant
    text (the approval lines left out), each user image read as a run's are (`build_request`:
    OCR unless the model reads images). Blocking: call it in a thread."""
    out: list[Message] = []
    for m, at in zip(history, where, strict=False):
        if m.role == "user" and images_of(m):
            try:
                read = build_request(state.settings, m.text, images_of(m))
            except RunInputError as exc:
                raise RequestError(str(exc), param=f"{at}.content") from None
            parts: list[TextPart | ImagePart] = [TextPart(text=read.text)]
            parts += [ImagePart(url=u) for u in read.images]
            out.append(Message(role="user", content=parts if read.images else read.text))
        elif m.role == "user" and m.text.strip():
            out.append(Message(role="user", content=m.text))
        elif m.role == "assistant" and without_tokens(m.text):
            out.append(Message(role="assistant", content=without_tokens(m.text)))
    return out


AUTO_SETTLE_S = 1.0
"""Under an auto-approval policy (``ERRAND_AUTO_APPROVE_BELOW``), how long a confirmation may
go without a next event before the chat asks the user: an approval by the policy is written
right after the confirmation, with no model call in between."""


async def _waits(runs: Any, user: str, run_id: str, event: int, policy: str) -> bool:
    """Whether the run stops at confirmation ``event`` for a person. Every confirmation is
    recorded, also the ones the run's policy approves at once (then its resolution follows)."""
    if policy == "all":
        return False
    if policy == "ask":
        return True
    deadline = time.monotonic() + AUTO_SETTLE_S
    while time.monotonic() < deadline:
        if await runs.events(user, run_id, after=event):
            return False
        await asyncio.sleep(0.05)
    return True


async def answer_events(
    state: ServerState, key: ApiKey, run_id: str, *, after: int
) -> AsyncGenerator[ModelEvent, None]:
    """The run's events after ``after`` as model events: reasoning as it comes, then the answer
    when the run commits to it, or the confirmation it stops for with a token to answer it.
    The usage is what the run's steps used within this answer (the key is charged by the run)."""
    runs = state.require_runs()
    usage = Usage()
    options = await runs.options(key.user, run_id)
    follow = runs.follow(key.user, run_id, after=after)
    try:
        async for ev in follow:
            data = ev.data
            if ev.type == "reasoning_delta":
                yield ReasoningDelta(text=str(data.get("text") or ""))
            elif ev.type == "step_finished":
                usage = usage + Usage.model_validate(data.get("usage") or {})
            elif ev.type == "confirmation_required":
                if not await _waits(runs, key.user, run_id, ev.id, str(options.get("approve") or "ask")):
                    continue
                secret = str(options.get("approval_secret") or "")
                expires = int(time.time() + state.settings.confirmation_expiry_s)
                token = mint(secret, run_id, ev.id, key.id, expires)
                yield TextDelta(text=confirmation_text(data, token))
                break
            elif ev.type == "run_finished":
                yield TextDelta(text=str(data.get("answer") or ""))
                break
            elif ev.type == "run_failed":
                if data.get("kind") == "model_error":
                    raise ModelResponseError(str(data.get("reason") or "The model failed."))
                yield TextDelta(text=str(data.get("reason") or "The run failed."))
                break
    finally:
        await follow.aclose()
    yield UsageEvent(usage=usage)
    yield Finish(reason="stop")
