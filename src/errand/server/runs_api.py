"""The runs API: create, list, read, stream, approve, reject and cancel durable runs.

Runs belong to the key's user: another user's run is "not found" (404), never "forbidden",
so ids reveal nothing. Runs are durable: a client that disconnects from the stream leaves
its run going, and re-attaches with ``Last-Event-ID`` (on any replica).
"""

from __future__ import annotations

import pathlib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse
from starlette.responses import FileResponse, JSONResponse, Response

from errand.errors import Overloaded, RateLimited, RequestError, RunNotFound
from errand.server.auth import current_key
from errand.server.errors import error_responses
from errand.server.idempotency import IDEMPOTENCY_KEY
from errand.server.keys import ApiKey
from errand.server.schemas import PlainText
from errand.server.sse import run_events
from errand.server.state import ServerState, server_state
from errand.telemetry.timeline import Timeline, read_timeline
from errand.tools.base import artifacts_folder

router = APIRouter(prefix="/v1/runs", tags=["runs"])
threads_router = APIRouter(prefix="/v1/threads", tags=["runs"])
"""A thread is a conversation: its messages are runs (``POST /v1/runs`` with ``thread_id``)."""

RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
ThreadId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
ACTIVE = ("queued", "running")

MAX_IMAGE_CHARS = 12_000_000
"""One attached image as a data URL (about 9 MB of image)."""

RunStatusName = Literal["queued", "running", "awaiting_confirmation", "succeeded", "failed", "cancelled"]


class RunCreate(BaseModel):
    """A request for the agent to get something done."""

    input: PlainText = Field(min_length=1, max_length=20_000, pattern=r"\S")
    """What the user wants done, in plain words."""
    max_steps: int | None = Field(default=None, ge=1, le=100)
    """Most model steps (the server's default when absent)."""
    images: list[Annotated[str, Field(max_length=MAX_IMAGE_CHARS)]] = Field(
        default_factory=list, max_length=4
    )
    """Images for the model to read (a receipt, a screenshot): ``data:image/...`` or http(s) URLs.
    A model that reads images (``ERRAND_MODEL_ACCEPTS_IMAGES``) gets them as image parts; for any
    other model the text of each data URL is read by OCR and appended to the request."""
    thread_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    """The conversation this message continues (a run's ``thread_id``): the run starts from its
    earlier turns, and answers a question the last one asked. 404 for no thread of yours, 409
    while its last run goes on. Absent: the run starts a new thread."""


class DecisionIn(BaseModel):
    """A person's answer to a confirmation."""

    note: PlainText = Field(default="", max_length=2_000)
    """Words for the agent (why not, what to change)."""
    arguments: dict[str, Any] | None = Field(default=None, max_length=50)
    """On approve: the call's arguments with the person's changes (only the ones the pending
    confirmation lists as ``editable`` may differ). The run prices the changed call and waits
    for another approval; a change to anything else is a 400 that says which field."""


class RunOut(BaseModel):
    """A run as its owner sees it."""

    id: str
    object: Literal["run"] = "run"
    status: RunStatusName
    input: str
    answer: str | None = None
    error: str | None = None
    pending: dict[str, Any] | None = None
    """The confirmation the run waits for (name, summary, amount, currency, arguments, call_id)."""
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    """The model that ran it, once it ended."""
    prompt_tokens: int = 0
    cached_tokens: int = 0
    """Of ``prompt_tokens``, those read from the prompt cache."""
    completion_tokens: int = 0
    cost: float | None = None
    """What its tokens cost, in the server's ``ERRAND_PRICE_CURRENCY``, once it ended (null: its model
    has no price)."""
    thread_id: str | None = None
    """The conversation the run is a message of (send it with the next message)."""


class RunList(BaseModel):
    """A user's newest runs."""

    object: Literal["list"] = "list"
    data: list[RunOut]


class EventOut(BaseModel):
    """One stored event of a run."""

    id: int
    """The event's number in its run (1, 2, 3, ...): the SSE id, and what ``Last-Event-ID`` /
    ``after`` take."""
    run_id: str
    type: str
    data: dict[str, Any]


class EventList(BaseModel):
    """A run's stored events."""

    object: Literal["list"] = "list"
    data: list[EventOut]


def _out(record: Any) -> RunOut:
    return RunOut(
        id=record.id,
        status=str(record.status),  # type: ignore[arg-type]
        input=record.input,
        answer=record.answer,
        error=record.error,
        pending=record.pending,
        created_at=record.created_at,
        updated_at=record.updated_at,
        model=record.model,
        prompt_tokens=record.prompt_tokens,
        cached_tokens=record.cached_tokens,
        completion_tokens=record.completion_tokens,
        cost=record.cost,
        thread_id=getattr(record, "thread_id", None),
    )


def _json(record: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(_out(record).model_dump(mode="json"), status_code=status_code)


async def start_run(state: ServerState, key: ApiKey, input: str, **create: Any) -> Any:
    """Create a run for ``key``'s user within the server's and the key's limits, and follow it
    here to charge its tokens: the one way the server starts a run (``POST /v1/runs``, and a
    chat completion or response with ``model: "errand"``). ``create`` goes to `Runs.create`."""
    runs = state.require_runs()
    watcher = state.watcher
    async with state.run_admission:  # count and record as one step (one process; see docs/server.md)
        if watcher is not None and watcher.active >= state.settings.serve_max_active_runs:
            state.metrics.reject("overloaded")
            raise Overloaded(
                f"This server has {watcher.active} runs in progress; retry shortly.", retry_after=5
            )
        mine = await runs.list(key.user, limit=max(50, key.max_runs + 1))
        active = sum(1 for r in mine if str(r.status) in ACTIVE)
        if active >= key.max_runs:
            state.metrics.reject("key_limit")
            raise RateLimited(
                f"This key may have {key.max_runs} runs queued or running; {active} are. "
                "Retry when one ends.",
                retry_after=5,
            )
        record = await runs.create(key.user, input, key_id=key.id, **create)
        if watcher is not None:
            watcher.watch(key, record.id)
    return record


@router.post(
    "",
    status_code=201,
    response_model=RunOut,
    summary="Start a run",
    responses=error_responses(400, 401, 404, 409, 422, 429, 503),
)
async def create_run(
    body: RunCreate,
    request: Request,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=255, pattern=IDEMPOTENCY_KEY)
    ] = None,
) -> Response:
    """Queue a run for this key's user; it goes on whether or not anyone watches."""
    extra: dict[str, Any] = {"images": body.images} if body.images else {}  # only when sent
    if body.thread_id is not None:
        extra["thread_id"] = body.thread_id
    state = server_state(request)
    record = await start_run(state, current_key(request), body.input, max_steps=body.max_steps, **extra)
    return _json(record, 201)


@router.get("", response_model=RunList, summary="My runs, newest first", responses=error_responses(401, 429))
async def list_runs(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response:
    """Only the runs of this key's user."""
    state = server_state(request)
    records = await state.require_runs().list(current_key(request).user, limit=limit)
    return JSONResponse(RunList(data=[_out(r) for r in records]).model_dump(mode="json"))


@router.get(
    "/{run_id}", response_model=RunOut, summary="One run", responses=error_responses(400, 401, 404, 429)
)
async def get_run(run_id: RunId, request: Request) -> Response:
    """The run's state, answer, error and pending confirmation."""
    state = server_state(request)
    return _json(await state.require_runs().get(current_key(request).user, run_id))


@router.get(
    "/{run_id}/events",
    response_model=EventList,
    summary="A run's events (SSE, resumable)",
    responses={
        200: {
            "description": "SSE (`id`, `event`, `data`) until the run's last event; JSON with `stream=false`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(400, 401, 404, 429),
    },
)
async def run_events_route(
    run_id: RunId,
    request: Request,
    after: Annotated[
        int,
        Query(ge=0, le=2**62, description="Only events numbered after this one (the event ids of this run)."),
    ] = 0,
    stream: Annotated[bool, Query(description="false: the events so far, as JSON.")] = True,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> Response:
    """Stream the run's events from the start, ``after``, or ``Last-Event-ID`` (a reconnect)."""
    state = server_state(request)
    runs = state.require_runs()
    user = current_key(request).user
    if last_event_id is not None and last_event_id.strip():
        if not last_event_id.strip().isdigit() or int(last_event_id) > 2**62:
            raise RequestError(
                "Last-Event-ID must be an event id (a number up to 2^62).", param="Last-Event-ID"
            )
        after = max(after, int(last_event_id))
    if not stream:
        events = await runs.events(user, run_id, after=after)
        data = [EventOut(id=e.id, run_id=e.run_id, type=e.type, data=e.data) for e in events]
        return JSONResponse(EventList(data=data).model_dump(mode="json"))
    await runs.get(user, run_id)  # 404 now, not inside a started stream
    return EventSourceResponse(
        run_events(runs, user, run_id, after, state.health), ping=state.settings.serve_ping_s, sep="\n"
    )


@router.get(
    "/{run_id}/trace",
    response_model=Timeline,
    summary="A run's timeline: steps, model and tool times, tokens, cost",
    responses=error_responses(400, 401, 404, 429),
)
async def run_trace(run_id: RunId, request: Request) -> Response:
    """What ``errand runs show ID --trace`` draws, from the same function: each step's model call
    and tool calls laid end to end (milliseconds from the run's start), their tokens and cost,
    the run's totals, and ``other_ms`` (what no step covers: planning, confirmations). A run
    still going has the steps so far and ``outcome: running``."""
    state = server_state(request)
    runs = state.require_runs()
    user = current_key(request).user

    async def events_after(after: int) -> list[Any]:
        return list(await runs.events(user, run_id, after=after))

    line = await read_timeline(events_after, state.settings)
    return JSONResponse(line.model_dump(mode="json"))


_DECIDE = error_responses(400, 401, 404, 409, 429)


@router.post(
    "/{run_id}/approve", response_model=RunOut, summary="Approve what the run waits for", responses=_DECIDE
)
async def approve_run(run_id: RunId, request: Request, body: DecisionIn | None = None) -> Response:
    """Let the pending write or payment go ahead, as it is or changed (409 when nothing waits)."""
    state = server_state(request)
    note, arguments = (body.note, body.arguments) if body else ("", None)
    return _json(await state.require_runs().approve(current_key(request).user, run_id, note, arguments))


@router.post(
    "/{run_id}/reject", response_model=RunOut, summary="Reject what the run waits for", responses=_DECIDE
)
async def reject_run(run_id: RunId, request: Request, body: DecisionIn | None = None) -> Response:
    """Refuse the pending action; the agent is told, with the note (409 when nothing waits)."""
    state = server_state(request)
    note = body.note if body else ""
    return _json(await state.require_runs().reject(current_key(request).user, run_id, note))


@router.post("/{run_id}/cancel", response_model=RunOut, summary="Cancel a run", responses=_DECIDE)
async def cancel_run(run_id: RunId, request: Request) -> Response:
    """Stop the run before its next step (409 when it has already ended)."""
    state = server_state(request)
    return _json(await state.require_runs().cancel(current_key(request).user, run_id))


class ThreadOut(BaseModel):
    """A conversation: its first message, how many runs, and where the last one stands."""

    id: str
    object: Literal["thread"] = "thread"
    title: str
    """The first message (at most 200 characters)."""
    runs: int
    last_run_id: str
    last_status: RunStatusName
    """A new message may follow once this is ``succeeded``, ``failed`` or ``cancelled``."""
    created_at: datetime
    updated_at: datetime


class ThreadList(BaseModel):
    """A user's threads, the one with the newest message first."""

    object: Literal["list"] = "list"
    data: list[ThreadOut]


@threads_router.get(
    "", response_model=ThreadList, summary="My threads, newest first", responses=error_responses(401, 429)
)
async def list_threads(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response:
    """Only the threads of this key's user."""
    state = server_state(request)
    records = await state.require_runs().threads(current_key(request).user, limit=limit)
    data = [
        ThreadOut(
            id=t.id,
            title=t.title,
            runs=t.runs,
            last_run_id=t.last_run_id,
            last_status=str(t.last_status),  # type: ignore[arg-type]
            created_at=t.created_at,
            updated_at=t.updated_at,
        )
        for t in records
    ]
    return JSONResponse(ThreadList(data=data).model_dump(mode="json"))


@threads_router.get(
    "/{thread_id}/runs",
    response_model=RunList,
    summary="A thread's runs, oldest first",
    responses=error_responses(400, 401, 404, 429),
)
async def thread_runs(thread_id: ThreadId, request: Request) -> Response:
    """The conversation's messages (each run's ``input``) and answers, in order; 404 if not yours."""
    state = server_state(request)
    records = await state.require_runs().thread_runs(current_key(request).user, thread_id)
    return JSONResponse(RunList(data=[_out(r) for r in records]).model_dump(mode="json"))


ArtifactName = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]


async def _artifact(
    runs: Any, user: str, run_id: str, name: str, folder: pathlib.Path
) -> pathlib.Path | None:
    """The file called ``name`` among the run's tool results' artifacts, if it still exists in
    the run's own artifacts folder (a recorded path anywhere else is never served)."""
    root = folder.resolve()
    after = 0
    while batch := await runs.events(user, run_id, after=after):
        for ev in batch:
            if ev.type == "tool_result":
                for path in ev.data.get("artifacts") or ():
                    p = pathlib.Path(str(path)).resolve()
                    if p.name == name and p.is_relative_to(root) and p.is_file():
                        return p
        after = batch[-1].id
    return None


@router.get(
    "/{run_id}/artifacts/{name}",
    response_class=Response,
    summary="A file a run's tool saved (a chart)",
    responses={
        200: {"description": "The file.", "content": {"image/png": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 404, 429),
    },
)
async def run_artifact(run_id: RunId, name: ArtifactName, request: Request) -> Response:
    """Only a file one of the run's tool results names, and only to the run's owner: the web page
    shows charts with it, and no other file on the server can be read (404)."""
    state = server_state(request)
    folder = artifacts_folder(state.settings.charts_dir(), run_id)
    path = await _artifact(state.require_runs(), current_key(request).user, run_id, name, folder)
    if path is None:
        raise RunNotFound(f"Run {run_id} has no file {name!r}.")
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, headers=headers)
