"""A chat completion with ``model: "errand"`` is a durable run, and a booking is approved in the
conversation: the assistant says what it will do and what it costs and asks for yes or no with
an approval token; the client's next request (the whole conversation) answers it. Driven with
the official ``openai`` SDK against a server whose runs execute in-process on a scripted model."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest
from sqlalchemy import func, select

from errand.llm.scripted import ScriptedModel, call
from errand.server.chat_runs import find_token, mint, reply_of
from errand.services.travel.models import Booking
from errand.services.wallet.models import LedgerTransaction
from tests.server.conftest import Served, ServeFactory

REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen."
BOOK = call("book_flight", flight_id="CA1101", passengers=["Dave Chen"], date="2027-01-15")
BOOKED = "Booked flight CA1101 for Dave Chen."
PLAN = {"topic": "travel", "tools": ["book_flight"], "verb": "book"}
Client = Callable[..., openai.OpenAI]


def _model(answer: str = BOOKED) -> ScriptedModel:
    return ScriptedModel([BOOK, answer], per_conversation=True, structured=[PLAN])


def _bookings(s: Served, user: str = "dave") -> tuple[int, int]:
    """(bookings, wallet payments) of ``user`` since the server started (the seed has payments)."""
    with s.state.store.sessions() as db:
        booked = db.scalar(select(func.count()).select_from(Booking).where(Booking.user == user))
        paid = db.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.user == user, LedgerTransaction.kind == "payment")
        )
    now = int(booked or 0), int(paid or 0)
    seeded = _SEEDED.setdefault(id(s), now)
    return now[0] - seeded[0], now[1] - seeded[1]


_SEEDED: dict[int, tuple[int, int]] = {}


def _ask(client: openai.OpenAI, messages: list[dict[str, Any]], stream: bool) -> tuple[str, str]:
    """(the run id header, the assistant's content) of one chat completion."""
    raw = client.chat.completions.with_raw_response.create(model="errand", messages=messages, stream=stream)  # type: ignore[call-overload]
    run_id = raw.headers["x-errand-run-id"]
    if stream:
        chunks = list(raw.parse())
        assert chunks[-1].choices[0].finish_reason == "stop"
        return run_id, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return run_id, raw.parse().choices[0].message.content or ""


def _run(s: Served, key: str, run_id: str) -> dict[str, Any]:
    r = httpx.get(f"{s.v1}/runs/{run_id}", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _wait(s: Served, key: str, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while (run := _run(s, key, run_id))["status"] != status:
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    return run


def _asked(s: Served, client: openai.OpenAI, key: str, stream: bool = False) -> tuple[str, str]:
    """Ask for the booking: (run id, the assistant's message asking to confirm it)."""
    assert _bookings(s) == (0, 0)  # the seed's, counted from here
    run_id, text = _ask(client, [{"role": "user", "content": REQUEST}], stream)
    run = _run(s, key, run_id)
    assert run["status"] == "awaiting_confirmation", run
    return run_id, text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_yes_in_the_conversation_books_once(serve: ServeFactory, client_for: Client, stream: bool) -> None:
    s = serve(model=_model(), open_runs=True)
    key = s.key("dave")
    client = client_for(s, key)
    run_id, asked = _asked(s, client, key, stream)
    pending = _run(s, key, run_id)["pending"]
    # What it will do and what it costs, in the confirmation's own words, then the question.
    assert asked.startswith(pending["summary"]) and pending["amount"] > 0
    price = f"{pending['amount'] // 100:,}"
    assert price in asked, (price, asked)
    last = asked.splitlines()[-1]
    assert "**yes**" in last and "**no**" in last and find_token(last) is not None
    assert _bookings(s) == (0, 0)

    conversation = [
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": asked},
        {"role": "user", "content": "Yes."},
    ]
    same, answer = _ask(client, conversation, stream)
    assert same == run_id and answer.startswith(BOOKED), answer
    assert "BK-" in answer  # the booking's reference, from the run's receipt
    assert _bookings(s) == (1, 1)
    done = _run(s, key, run_id)
    assert done["status"] == "succeeded" and done["answer"] == answer

    # The same yes again moves nothing: the confirmation was answered.
    with pytest.raises(openai.ConflictError) as err:
        _ask(client, conversation, stream)
    assert err.value.code == "run_conflict"
    assert _bookings(s) == (1, 1)

    # The run is a run: listed, and its events readable.
    mine = httpx.get(f"{s.v1}/runs", headers={"authorization": f"Bearer {key}"}).json()["data"]
    assert [r["id"] for r in mine] == [run_id]
    events = httpx.get(
        f"{s.v1}/runs/{run_id}/events?stream=false", headers={"authorization": f"Bearer {key}"}
    ).json()["data"]
    types = [e["type"] for e in events]
    assert types.count("confirmation_required") == 1 and types[-1] == "run_finished"
    (resolved,) = [e["data"] for e in events if e["type"] == "confirmation_resolved"]
    assert resolved["approved"] and resolved["by"] == "dave"
    booked = [e for e in events if e["type"] == "tool_result" and e["data"]["name"] == "book_flight"]
    assert len(booked) == 1 and booked[0]["data"]["ok"]


def test_no_in_the_conversation_books_nothing(serve: ServeFactory, client_for: Client) -> None:
    s = serve(model=_model("OK, I did not book it."), open_runs=True)
    key = s.key("dave")
    client = client_for(s, key)
    run_id, asked = _asked(s, client, key)
    conversation = [
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": asked},
        {"role": "user", "content": "不要"},
    ]
    same, answer = _ask(client, conversation, True)
    assert same == run_id and answer.startswith("OK, I did not book it.")
    assert _bookings(s) == (0, 0)
    run = _run(s, key, run_id)
    assert run["status"] == "succeeded"
    events = httpx.get(
        f"{s.v1}/runs/{run_id}/events?stream=false", headers={"authorization": f"Bearer {key}"}
    ).json()["data"]
    (resolved,) = [e["data"] for e in events if e["type"] == "confirmation_resolved"]
    assert not resolved["approved"]


def test_a_token_redeemed_by_another_key_moves_nothing(serve: ServeFactory, client_for: Client) -> None:
    s = serve(model=_model(), open_runs=True)
    key = s.key("dave")
    run_id, asked = _asked(s, client_for(s, key), key)
    conversation = [
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": asked},
        {"role": "user", "content": "yes"},
    ]
    # Another user: the run is not theirs (404, as on the runs API).
    with pytest.raises(openai.NotFoundError) as other_user:
        _ask(client_for(s, s.key("eve")), conversation, False)
    assert other_user.value.code == "not_found"
    # Another key of the same user: the token was shown to the first key only.
    with pytest.raises(openai.BadRequestError) as other_key:
        _ask(client_for(s, s.key("dave")), conversation, True)
    assert (other_key.value.code, other_key.value.param) == ("invalid_approval_token", "messages.1.content")
    assert _bookings(s) == (0, 0)
    assert _run(s, key, run_id)["status"] == "awaiting_confirmation"


def test_a_forged_or_expired_token_moves_nothing(serve: ServeFactory, client_for: Client) -> None:
    s = serve(model=_model(), open_runs=True)
    key = s.key("dave")
    client = client_for(s, key)
    run_id, asked = _asked(s, client, key)
    token = find_token(asked)
    assert token is not None

    def reply_with(text: str) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": REQUEST},
            {"role": "assistant", "content": text},
            {"role": "user", "content": "ok"},
        ]

    forged = f"apv.{run_id}.{token.event}.{token.expires}.{'0' * 32}"
    with pytest.raises(openai.BadRequestError) as bad:
        _ask(client, reply_with(asked.replace(_text(token), forged)), False)
    assert bad.value.code == "invalid_approval_token"
    # A later expiry, not signed by the server, is forged too.
    later = f"apv.{run_id}.{token.event}.{token.expires + 3600}.{token.mac}"
    with pytest.raises(openai.BadRequestError) as longer:
        _ask(client, reply_with(asked.replace(_text(token), later)), False)
    assert longer.value.code == "invalid_approval_token"
    # Signed as the server signs it, for this key, but expired.
    api_key = next(k for k in s.state.keys.list("dave"))
    secret = _secret(s, run_id)
    expired = mint(secret, run_id, token.event, api_key.id, int(time.time()) - 1)
    with pytest.raises(openai.BadRequestError) as old:
        _ask(client, reply_with(asked.replace(_text(token), expired)), True)
    assert old.value.code == "approval_token_expired"
    assert _bookings(s) == (0, 0)
    assert _run(s, key, run_id)["status"] == "awaiting_confirmation"


def test_another_reply_cancels_the_wait_and_is_a_new_request(serve: ServeFactory, client_for: Client) -> None:
    model = ScriptedModel([BOOK, "Which date instead?", "Which date instead?"], structured=[PLAN, PLAN])
    s = serve(model=model, open_runs=True)
    key = s.key("dave")
    client = client_for(s, key)
    first, asked = _asked(s, client, key)
    conversation = [
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": asked},
        {"role": "user", "content": "Wait, make it another day."},
    ]
    second, _ = _ask(client, conversation, False)
    assert second != first
    assert _run(s, key, first)["status"] == "cancelled"
    assert _bookings(s) == (0, 0)
    # The new run starts from the whole conversation, without the approval line.
    (messages, *_) = next(r for r in model.requests if "another day" in r[0][-1].text)
    said = [(m.role, m.text) for m in messages if m.role in ("user", "assistant")]
    assert [r for r, _ in said] == ["user", "assistant", "user"]
    assert said[1][1] == asked.rsplit("\n\n", 1)[0] and "apv." not in said[1][1]
    assert said[2][1].startswith("Wait, make it another day.")


def test_the_replies_that_answer_a_confirmation() -> None:
    for yes in ("yes", "Yes.", " OK! ", "好的", "确认", "好的。", "go ahead"):
        assert reply_of(yes) is True, yes
    for no in ("no", "No!", "不要", "取消", "cancel"):
        assert reply_of(no) is False, no
    for other in ("yes, but two seats", "book it for Ann", "", "maybe"):
        assert reply_of(other) is None, other


def _text(token: Any) -> str:
    return f"apv.{token.run_id}.{token.event}.{token.expires}.{token.mac}"


def _secret(s: Served, run_id: str) -> str:
    """The run's approval secret, read from its stored options (only the server can)."""
    info = s.state.runs.log.load(run_id)
    return str(info["options"]["approval_secret"])


def test_a_response_is_a_run_approved_the_same_way(serve: ServeFactory, client_for: Client) -> None:
    s = serve(model=_model(), open_runs=True)
    key = s.key("dave")
    client = client_for(s, key)
    assert _bookings(s) == (0, 0)
    raw = client.responses.with_raw_response.create(model="errand", input=REQUEST)
    run_id, asked = raw.headers["x-errand-run-id"], raw.parse().output_text
    assert find_token(asked) is not None and _bookings(s) == (0, 0)
    conversation: Any = [
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": asked},
        {"role": "user", "content": "确认"},
    ]
    events = list(client.responses.create(model="errand", input=conversation, stream=True))
    answer = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert answer.startswith(BOOKED) and events[-1].type == "response.completed"
    assert _bookings(s) == (1, 1)
    assert _run(s, key, run_id)["status"] == "succeeded"
