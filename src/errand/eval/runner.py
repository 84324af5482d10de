"""Run tasks through the real agent: a fresh world per attempt, the task's approval policy,
the user's scripted replies, a time limit, then the checks.

Replays use the same path: the reference calls are fed to the agent by a `ScriptedModel`,
so a passing replay proves the task is solvable with the real tools, its reference answer
is grounded, and every check agrees with what the tools did.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from errand.agent import Approver, Budget, Conversation, approve_all, prompts, reject_all
from errand.agent.confirm import auto_approve_below
from errand.agent.events import (
    ConfirmationResolved,
    Event,
    RevisionRequested,
    RunFailed,
    RunFinished,
    RunStarted,
    StepFinished,
    TextDeltaEvent,
    ToolCallStarted,
    ToolResultEvent,
)
from errand.config import Settings, parse_amount
from errand.eval import clock
from errand.eval.checks import CheckResult, answer_check, calls_check, grounded_check
from errand.eval.environment import Environment, World
from errand.eval.pictures import image_urls, read_checks
from errand.eval.tasks import Policy, Task
from errand.llm.base import ChatModel
from errand.llm.scripted import ScriptedModel, Turn, call
from errand.llm.types import Message, ModelEvent, ModelSettings, ToolSpec
from errand.runs.request import RunRequest, build_request
from errand.runtime import agent_over
from errand.tools import ToolRegistry

ModelSource = Callable[[Task], ChatModel]
"""The model for one attempt at a task: a shared model, or a fresh script per attempt (replay)."""


@dataclass(frozen=True)
class RunConfig:
    """How a suite is run."""

    n: int = 1
    """Attempts per task (at least the k of pass^k)."""
    jobs: int = 1
    """Attempts run at once."""
    timeout_s: float = 300.0
    """Most seconds one attempt may take, all of its turns together."""
    max_steps: int = 10
    """Most model steps per user message."""
    max_tokens: int = 60_000
    """Most tokens per user message."""
    temperature: float = 0.0
    max_output_tokens: int = 768
    replay: bool = False
    """Grading a reference replay: also check that each expected fact comes from a tool result."""
    keep: bool = False
    """Keep each attempt's folder (its database) for inspection."""
    now: datetime = clock.EVAL_NOW
    """What the clock reads during the run (time-zone aware)."""
    settings: Settings | None = None
    """How a task's request is built, as for ``errand run`` (does the model see images?). None:
    the defaults, so pictures are read by OCR (what a replay must prove readable)."""

    def __post_init__(self) -> None:
        clock.Frozen(self.now)  # refuses a moment without a time zone before anything runs


@dataclass
class Attempt:
    """One attempt at one task, graded."""

    task_id: str
    domain: str
    difficulty: str
    category: str
    index: int
    passed: bool = False
    checks: list[CheckResult] = field(default_factory=list)
    failure: str | None = None
    """Why the attempt ended without an answer (timeout, run failed, setup error), if it did."""
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    """Of ``completion_tokens``, those spent thinking (a reasoning model's, shown folded)."""
    wall_s: float = 0.0
    answers: list[str] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens over every turn."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def failed_checks(self) -> list[CheckResult]:
        """The checks that did not hold."""
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return asdict(self) | {"tokens": self.tokens}


def approver_for(policy: Policy) -> Approver | None:
    """The task's confirmation policy as an `Approver` (None: nobody to ask)."""
    if policy == "approve":
        return approve_all
    if policy == "reject":
        return reject_all
    if policy == "none":
        return None
    limit, currency = parse_amount(policy.auto_approve_below)
    return auto_approve_below(limit, currency, approve_all if policy.otherwise == "approve" else reject_all)


_UNGROUNDED = prompts.UNGROUNDED.split("{", 1)[0]


class _Reference(ScriptedModel):
    """Plays a task's reference solution. Reminded of an action it chose not to take (it found
    the home sold, or must ask for a name), or told a figure or id of its answer is in no tool
    result, it stands by its answer, as a good model would (the replay's own checks then say
    whether the answer's facts come from the tools)."""

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        """The next turn of the solution, or the previous answer again after a reminder."""
        if (
            len(messages) >= 2
            and messages[-1].role == "user"
            and (messages[-1].text == prompts.UNFINISHED_ACTION or messages[-1].text.startswith(_UNGROUNDED))
        ):
            self._turns.insert(self._next, messages[-2].text)
        async for ev in super().stream(messages, tools, settings):
            yield ev


def reference_plan(task: Task, registry: ToolRegistry) -> dict[str, Any]:
    """The plan a good model makes for ``task``: the tools its reference calls, and a verb of
    doing when one of them writes (so a payment under an auto-approve policy is requested)."""
    names = list(dict.fromkeys(s.call for s in task.reference if s.call))
    writes = any((t := registry.get(n)) is not None and t.risk != "read" for n in names)
    return {"topic": task.id, "tools": names, "verb": "book" if writes else "find_out"}


def reference_model(task: Task) -> ScriptedModel:
    """A model that plays the task's reference solution, call by call."""
    turns: list[Turn] = [
        s.answer if s.answer is not None else call(s.call or "", **s.args) for s in task.reference
    ]
    return _Reference(turns)


_SHOWN = 600
"""Characters of a tool result kept in a transcript."""


@dataclass
class _Recorder:
    """Collects what the graders and the report need from the event stream."""

    transcript: list[dict[str, Any]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    called: list[str] = field(default_factory=list)
    steps: int = 0
    prompt: int = 0
    completion: int = 0
    thinking: int = 0
    """Tokens of thinking, summed over the steps (each step's usage says its own)."""
    text: str = ""
    """The text of the step under way, or of the last one: a draft sent back is shown with why."""
    step_open: bool = False

    def add(self, ev: Event) -> None:
        if isinstance(ev, TextDeltaEvent):
            self.text = (self.text if self.step_open else "") + ev.text
            self.step_open = True
        elif isinstance(ev, RunStarted) and ev.plan is not None:
            self.transcript.append({"plan": ev.plan})
        elif isinstance(ev, ToolCallStarted):
            self.called.append(ev.name)
            self.transcript.append({"call": ev.name, "args": ev.arguments})
        elif isinstance(ev, ConfirmationResolved):
            self.transcript.append({"confirmed": ev.approved} | ({"note": ev.note} if ev.note else {}))
        elif isinstance(ev, ToolResultEvent):
            self.results.append(ev.content)
            shown = ev.content if len(ev.content) <= _SHOWN else ev.content[:_SHOWN] + " …"
            self.transcript.append({"result": ev.name, "ok": ev.ok, "content": shown})
        elif isinstance(ev, StepFinished):
            self.thinking += ev.usage.reasoning_tokens
            self.step_open = False  # its text stays, for a revision asked of it
        elif isinstance(ev, RevisionRequested):
            self.transcript.append(
                (
                    {"revision": ev.unverified_numbers}
                    if ev.reason == "unverified_numbers"
                    else {"reminded": ev.reason}
                )
                | {"draft": self.text[:_SHOWN]}
            )
        elif isinstance(ev, RunFinished | RunFailed):
            self.steps += ev.steps
            self.prompt += ev.usage.prompt_tokens
            self.completion += ev.usage.completion_tokens
            if isinstance(ev, RunFinished):
                self.answers.append(ev.answer)
                self.transcript.append({"answer": ev.answer})
            else:
                self.transcript.append({"failed": ev.kind, "reason": ev.reason})


def _prepare(env: Environment, task: Task, workdir: Path, frozen: clock.Frozen) -> World:
    world = env.open(task, workdir, frozen)
    try:
        world.setup()
        world.snapshot()
    except BaseException:
        world.close()
        raise
    return world


def task_request(task: Task, settings: Settings | None) -> RunRequest:
    """The task's first message as the model gets it: its pictures go through the path every
    front end uses (`build_request`), so the eval measures the OCR a user's images get.

    Blocking (OCR takes a second or two per picture); `RunInputError` if one cannot be read."""
    return build_request(settings or Settings.model_construct(), task.request, image_urls(task))


def _grade(task: Task, world: World, rec: _Recorder, replay: bool, request: RunRequest) -> list[CheckResult]:
    out = [answer_check(f, rec.answers) for f in task.checks.answer]
    out += calls_check(task.checks.not_called, rec.called)
    out += world.state_checks()
    if replay:
        said = " ".join([request.text, *task.replies])  # a picture's text is the user's too
        grounded = (grounded_check(f, rec.results, said) for f in task.checks.answer)
        out += [g for g in grounded if g is not None]
        if not request.images:  # read by OCR: what the errand needs must be in its text
            out += read_checks(task, request.text)
    return out


async def run_attempt(
    task: Task, env: Environment, model: ChatModel, *, index: int, config: RunConfig, workdir: Path
) -> Attempt:
    """One graded attempt: fresh world, the conversation (within the time limit), then the checks."""
    started = time.perf_counter()
    out = Attempt(task.id, task.domain, task.difficulty, task.category, index)
    frozen = clock.Frozen(config.now)
    try:
        world = await asyncio.to_thread(_prepare, env, task, workdir, frozen)
    except Exception as exc:
        out.failure = f"setup failed: {exc}"
        out.wall_s = time.perf_counter() - started
        return out
    try:
        request = await asyncio.to_thread(task_request, task, config.settings)
    except Exception as exc:
        world.close()
        out.failure = f"the request's pictures failed: {exc}"
        out.wall_s = time.perf_counter() - started
        return out
    if isinstance(model, _Reference) and model.structured_default is None:
        model.structured_default = reference_plan(task, env.registry)
    agent = agent_over(
        model,
        env.registry,
        world.context,
        settings=config.settings or Settings(),
        descriptions=env.descriptions,
        budget=Budget(max_steps=config.max_steps, max_tokens=config.max_tokens, max_wall_s=config.timeout_s),
        model_settings=ModelSettings(temperature=config.temperature, max_tokens=config.max_output_tokens),
        approver=approver_for(task.confirm),
        artifacts_dir=workdir,
        today=frozen.today_text,
    )
    rec = _Recorder()
    conversation = Conversation()
    try:
        async with asyncio.timeout(config.timeout_s):
            for turn, message in enumerate([request.text, *task.replies]):
                rec.transcript.append({"user": message})
                last: Event | None = None
                run_id = f"{task.id}-{index}-{turn}"
                images = request.images if turn == 0 else ()
                attachments = request.attachments if turn == 0 else ()  # for read_image
                async for last in agent.stream(
                    message,
                    conversation=conversation,
                    run_id=run_id,
                    user=task.user,
                    images=images,
                    attachments=attachments,
                ):
                    rec.add(last)
                if isinstance(last, RunFailed):
                    out.failure = f"run failed ({last.kind}): {last.reason}"
                    break
    except TimeoutError:
        out.failure = f"timed out after {config.timeout_s:g} s"
        rec.transcript.append({"failed": "timeout"})
    except Exception as exc:  # a crash in the agent or model is this attempt's failure, not the suite's
        out.failure = f"error: {type(exc).__name__}: {exc}"
    try:
        out.checks = await asyncio.to_thread(_grade, task, world, rec, config.replay, request)
        if config.replay and isinstance(model, ScriptedModel) and model.remaining:
            out.checks.append(
                CheckResult("the reference ran to its end", False, f"{model.remaining} turn(s) never played")
            )
    except Exception as exc:
        out.checks.append(CheckResult("grading", False, f"{type(exc).__name__}: {exc}"))
    finally:
        world.close()
    out.passed = out.failure is None and all(c.ok for c in out.checks)
    out.steps, out.prompt_tokens, out.completion_tokens = rec.steps, rec.prompt, rec.completion
    out.reasoning_tokens = rec.thinking
    out.answers, out.transcript = rec.answers, rec.transcript
    out.wall_s = time.perf_counter() - started
    return out


async def run_tasks(
    tasks: Sequence[Task],
    env: Environment,
    model_for: ModelSource,
    config: RunConfig,
    *,
    root: Path | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> list[Attempt]:
    """Every task ``config.n`` times, ``config.jobs`` at once, under the eval's frozen clock."""
    if config.n < 1 or config.jobs < 1:
        raise ValueError("n and jobs must be at least 1")
    base = root or Path(tempfile.mkdtemp(prefix="errand-attempts-"))
    gate = asyncio.Semaphore(config.jobs)

    async def one(task: Task, index: int) -> Attempt:
        async with gate:
            workdir = base / f"{task.id}-{index}"
            attempt = await run_attempt(
                task, env, model_for(task), index=index, config=config, workdir=workdir
            )
            if not config.keep:
                await asyncio.to_thread(shutil.rmtree, workdir, True)
            if on_attempt is not None:
                on_attempt(attempt)
            return attempt

    try:
        return list(await asyncio.gather(*(one(t, i) for t in tasks for i in range(config.n))))
    finally:
        if root is None and not config.keep:
            shutil.rmtree(base, ignore_errors=True)
