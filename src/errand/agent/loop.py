"""The agent loop: model step, tool calls, observations, until an answer or a budget ends it.

The prompt is append-only (system prompt, tool schemas, then history), so every
backend's prefix cache reuses the previous step and each step costs only its new
tokens. Small models get help shaped for them: only the tools of the services the
model chose for the request (`errand.agent.plan`), ids constrained at decode time
to those the request and the results contain, a short instruction after each
result, repeated calls caught, and a check that every number in the answer comes
from a tool result.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from errand.agent import prompts
from errand.agent.act import CallRunner
from errand.agent.attachments import offered as attachment_specs
from errand.agent.confirm import Approver
from errand.agent.dates import now_text, time_limits
from errand.agent.events import (
    Event,
    ReasoningDeltaEvent,
    RevisionRequested,
    RunFailed,
    RunFinished,
    RunStarted,
    StepFinished,
    TextDeltaEvent,
)
from errand.agent.examples import worked_examples
from errand.agent.grounding import ground_calls, known_numbers, limits_in, numbers_in, unverified_in
from errand.agent.observations import (
    count_of,
    earlier_result,
    found_nothing,
    names_a_record,
    quotes,
    record_ids,
    records_in,
)
from errand.agent.plan import (
    Plan,
    named_services,
    plan_for,
    plan_messages,
    plan_prompt,
    plan_schema,
)
from errand.agent.state import Budget, ContextFactory, Conversation, RunState, add_usage
from errand.agent.steps import InMemorySteps, ModelTurn, StepRunner
from errand.errors import ContextLengthExceeded, ModelError
from errand.llm.base import ChatModel
from errand.llm.context import RUN_HINT, check_context, estimate_tokens
from errand.llm.types import (
    Finish,
    ImagePart,
    MalformedToolCall,
    Message,
    ModelEvent,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    TextPart,
    ToolCallEvent,
    ToolSpec,
    Usage,
    UsageEvent,
)
from errand.tools import Tool, ToolRegistry
from errand.tools.provenance import (
    FromResults,
    id_forms,
    ids_in_text,
    named_ids,
)


def _called(registry: ToolRegistry, state: RunState) -> list[Tool]:
    """The tools of ``registry`` the run has called (one errand turned down counts too)."""
    return [t for n in sorted(state.called) if (t := registry.get(n)) is not None]


def _last_turn(messages: Sequence[Message]) -> Sequence[Message]:
    """The messages since a conversation's last request (its last turn): errand's own notes
    to the model within it (a reminder, an answer sent back) are no new request."""
    users = [i for i, m in enumerate(messages) if m.role == "user" and not prompts.is_note(m.text)]
    return messages[users[-1] + 1 :] if users else []


def _in_chinese_again(note: str, state: RunState, conv: Conversation, step: int) -> RevisionRequested:
    """Send an answer or a question to a Chinese request back once, to be said in Chinese."""
    state.rewritten_in_chinese = True
    conv.messages.append(Message(role="user", content=note))
    ev: RevisionRequested = state.emit(RevisionRequested, step=step, unverified_numbers=[], reason="language")
    return ev


def record_readers(registry: ToolRegistry, typed: set[str]) -> set[str]:
    """The lookups that take an id of a shape the request typed ("SH-R040 min order?" →
    ``get_menu``, "where is FO-000001" → ``order_status``): a request about a named record
    starts by reading it, not by searching (dev: SH-R040's minimum was searched for across
    Shanghai; HZ-R019's dish was looked for on HZ-R021's menu). Empty when none takes one."""
    return {t.name for t in registry if t.risk == "read" and t.takes_id(typed)}


MAX_REMINDERS = 2
"""Reminders of an errand left undone per run: a purchase often needs two lookups (the product,
then its variants) before the write, and the 1.5B describes the purchase after each."""


async def _closing(stream: AsyncIterator[ModelEvent]) -> AsyncIterator[ModelEvent]:
    """Iterate a model stream and close it even when the loop stops early (budget, cancel)."""
    try:
        async for ev in stream:
            yield ev
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


class Agent(CallRunner):
    """Runs errands: plans with a model, acts with tools, answers from what the tools said."""

    def __init__(
        self,
        model: ChatModel,
        tools: ToolRegistry,
        *,
        budget: Budget | None = None,
        model_settings: ModelSettings | None = None,
        approver: Approver | None = None,
        context: ContextFactory | None = None,
        domain_descriptions: Mapping[str, str] | None = None,
        choose_tools: bool = True,
        system_prompt: str = prompts.SYSTEM_PROMPT,
        examples: bool = True,
        today: Callable[[], str] | None = None,
        artifacts_dir: Path | None = None,
        ground_arguments: bool = True,
        steps: StepRunner | None = None,
    ) -> None:
        self.model = model
        self.tools = tools
        self.budget = budget or Budget()
        self.model_settings = model_settings or ModelSettings()
        self._first_step_settings = self.model_settings.model_copy(update={"tool_choice": "required"})
        self.approver = approver
        self.ground_arguments = ground_arguments
        """Drop optional numeric arguments that neither the request nor a result states."""
        self._context = context
        self._descriptions = dict(domain_descriptions or {})
        """Domain → one line saying what it covers, for the catalogue the model chooses from."""
        self.choose_tools = choose_tools
        """Let the model choose the services a request needs before the first step (else offer all)."""
        self.system_prompt = system_prompt
        self.examples = examples
        """End an errand's system prompt with the worked errands of the offered tools (`worked_examples`)."""
        self._today = today or now_text
        self._artifacts_dir = artifacts_dir or Path.cwd()
        self.steps = steps or InMemorySteps()
        """Runs model turns and tool calls: directly, or as durable steps (`errand.runs`)."""

    def _catalogue_prompt(self) -> str:
        return plan_prompt(self.tools, self._descriptions)

    async def _plan(self, task: str, conv: Conversation, state: RunState) -> Plan:
        """The model's choice of services for ``task``, and whether it asks for a change.

        One short constrained call (a durable step, so a resumed run does not choose again).
        Nothing to choose (one read-only service) or a reply that is not a plan: every tool."""
        domains = self.tools.domains
        everything = Plan(tuple(domains), acts=True)
        if not self.choose_tools or not domains:
            return everything
        if len(domains) == 1 and all(t.risk == "read" for t in self.tools):
            return Plan(tuple(domains), acts=False)
        messages = plan_messages(self._catalogue_prompt(), conv.messages, task)
        settings = self.model_settings.model_copy(
            update={
                "response_format": plan_schema([t.name for t in self.tools]),
                "max_tokens": 100,
                "tool_choice": "auto",
            }
        )

        async def choose() -> dict[str, Any]:
            text, usage = "", Usage()
            try:
                async for ev in _closing(self.model.stream(messages, [], settings)):
                    if isinstance(ev, TextDelta):
                        text += ev.text
                    elif isinstance(ev, UsageEvent):
                        usage = ev.usage
            except Exception:  # no plan (a backend error, or none it understood): every tool
                text = ""
            return {"text": text, "usage": usage.model_dump()}

        out = await self.steps.tool_call("plan", choose)
        add_usage(state.usage, Usage.model_validate(out["usage"]))
        return plan_for(str(out["text"]), task, self.tools)

    def _step_specs(self, registry: ToolRegistry, state: RunState, step: int = 0) -> list[ToolSpec]:
        """This step's tools: ids limited to those known so far, writes shown but not callable
        when the user only asks a question (`RunState.finds_only`), and ``ask_user`` last. On
        the first step of a request that names a record by id, only the lookups of such
        records can be called (`record_readers`), not ``ask_user``; on the step after a reminder that names
        tools, only those (`RunState.only_tools`)."""
        limit = (
            record_readers(registry, state.request_ids)
            if step == 1
            else state.only_tools
            if step == state.revision_step
            else set()
        )
        specs = [
            t.spec_within(state.ids_of(t)).model_copy(update={"callable": False})
            if (state.finds_only and t.risk != "read") or (limit and t.name not in limit)
            else t.spec_within(state.ids_of(t))
            for t in registry
        ]
        specs += attachment_specs(state.attachments)  # read_image, with attachments (#16)
        if prompts.ASK_USER.name in registry:
            return specs
        # The record the user named is read before anything is asked of them: dev
        # sh-u-cancel-shipped-zh asked "您是否想要取消订单SO-000001？" of an order already shipped.
        ask = (
            prompts.ASK_USER.model_copy(update={"callable": False})
            if step == 1 and limit
            else prompts.ASK_USER
        )
        return [*specs, ask]

    async def run(self, task: str, **kwargs: Any) -> RunFinished | RunFailed:
        """Run to the end and return the last event (`RunFinished` or `RunFailed`)."""
        last: Event | None = None
        async for last in self.stream(task, **kwargs):  # noqa: B007 - only the last matters
            pass
        assert isinstance(last, RunFinished | RunFailed)
        return last

    async def stream(
        self,
        task: str,
        *,
        conversation: Conversation | None = None,
        run_id: str | None = None,
        user: str = "local",
        images: Sequence[str] = (),
        attachments: Sequence[str] = (),
    ) -> AsyncIterator[Event]:
        """Run ``task`` and yield its events; the last is `RunFinished` or `RunFailed`.

        ``images`` (URLs or ``data:`` URLs) go with the request as image parts, for a model
        that accepts them. ``attachments`` (data URLs, numbered as the request's OCR notes; for a
        model that does not read images) can be read again by the ``read_image`` action."""
        state = RunState(run_id=run_id or uuid.uuid4().hex[:12], attachments=tuple(attachments))
        conv = conversation if conversation is not None else Conversation()
        for m in conv.messages:  # earlier turns of a chat ground ids, names and numbers too
            if m.role not in ("user", "tool") or not m.text:
                continue
            state.known |= known_numbers([m.text])
            state.named |= id_forms(named_ids(m.text))
            if m.role == "user":
                state.loose_ids |= ids_in_text(m.text)
                state.user_texts.append(m.text)
            else:
                state.results.append(earlier_result(m.text))
        try:  # before any model call: a prompt far over the window costs minutes of CPU
            prompt = conv.messages or [Message(role="system", content=self.system_prompt)]
            tokens = estimate_tokens([*prompt, Message(role="user", content=task)])
            check_context(tokens, None, self.model.context_window, RUN_HINT)
        except ContextLengthExceeded as exc:
            yield state.emit(RunStarted, input=task, model=self.model.name, tools=[])
            yield state.emit(RunFailed, reason=str(exc), kind="model_error", duration_ms=state.elapsed_ms())
            return
        plan = await self._plan(task, conv, state)
        # A chat's next message most often goes on with the errand before it ("Li Wei", answering
        # "who is travelling?"): the services of the last tools called stay offered.
        last_calls = next((m.tool_calls for m in reversed(conv.messages) if m.tool_calls), [])
        carried = {t.domain for c in last_calls if (t := self.tools.get(c.name)) is not None}
        # So do the services whose ids the last turn's results showed: "yes cancel the second
        # one" after a wallet history naming FO-000002 is the food service's to cancel (dev
        # wl-u-dup-food-multiturn planned travel, and cancelled a payment as a booking).
        shown = " ".join(m.text for m in _last_turn(conv.messages) if m.role == "tool")
        carried |= named_services(shown, self.tools)
        plan = plan.adding(carried, self.tools.domains)
        state.acts = plan.acts
        # A question is answered, not acted on: writes stay in the prompt (it stays cached) but
        # cannot be called. Only on a conversation's first request: a later one ("Li Wei",
        # answering "who is travelling?") goes on with an errand already under way.
        state.finds_only = plan.verb == "find_out" and not any(m.role == "user" for m in conv.messages)
        registry = self.tools.subset(plan.domains)
        specs = self._step_specs(registry, state) if len(registry) or state.attachments else []
        if not conv.messages:
            shown = worked_examples(registry) if self.examples and plan.acts else ""
            conv.messages.append(Message(role="system", content=self.system_prompt + shown))
        request = prompts.dated_task(task, self._today())
        if plan.acts and len(registry) and all(t.risk == "read" for t in registry):
            # "send 500 yuan to Bob": the plan says act, and no service offered can (dev wl-transfer-refuse)
            request += prompts.CANNOT_ACT
        conv.messages.append(
            Message(role="user", content=[TextPart(text=request), *(ImagePart(url=u) for u in images)])
            if images
            else Message(role="user", content=request)
        )
        state.known |= known_numbers([task])
        state.user_texts.append(task)
        state.request_ids = ids_in_text(task)
        state.loose_ids |= state.request_ids
        state.named |= id_forms(named_ids(task))

        def failed(reason: str, kind: Any, steps: int) -> RunFailed | RunFinished:
            if state.made and kind in ("budget", "model_error", "repeated_call"):
                # Something was booked or paid: the run did its errand, and its receipt is the
                # answer (a "failed" run that charged the user would be a lie either way).
                note = prompts.UNSUMMARISED_ZH if prompts.in_chinese(task) else prompts.UNSUMMARISED
                return finished(note.format(reason=reason), steps, [])
            ev: RunFailed = state.emit(
                RunFailed,
                reason=reason,
                kind=kind,
                steps=steps,
                usage=state.usage,
                duration_ms=state.elapsed_ms(),
            )
            return ev

        def finished(
            answer: str, step: int, invented: list[str], *, said_nothing: bool = False
        ) -> RunFinished:
            answer += state.footer(answer, prompts.in_chinese(task), said_nothing=said_nothing)
            outcome = (
                "asked"
                if state.asked is not None
                else "not_done"
                if state.refusal is not None or (state.acts and not state.acted)
                else "answered"
            )
            ev: RunFinished = state.emit(
                RunFinished,
                answer=answer,
                steps=step,
                usage=state.usage,
                duration_ms=state.elapsed_ms(),
                artifacts=state.artifacts,
                unverified_numbers=invented,
                outcome=outcome,
            )
            return ev

        yield state.emit(
            RunStarted, input=task, model=self.model.name, tools=[t.name for t in registry], plan=plan.shown()
        )
        for step in range(1, self.budget.max_steps + 1):
            final = step in (self.budget.max_steps, state.answer_step)
            if final and step > 1:
                conv.messages.append(Message(role="user", content=prompts.FINAL_STEP))
            settings = self.model_settings
            # An errand's first step acts (a search, or a question to the user) rather than
            # answering from imagination; so does a step after a reminder or a refused id.
            must_call = (step == 1 and len(registry) > 0) or state.revision_step == step
            if must_call and specs and not final:
                settings = self._first_step_settings
            step_specs = self._step_specs(registry, state, step) if specs else []
            if step == state.revision_step:
                state.only_tools = set()  # for this step alone
            if final:  # shown as before (the prompt's prefix stays cached), callable no more
                step_specs = [s.model_copy(update={"callable": False}) for s in step_specs]
            seq_before, turn = state.seq, ModelTurn()

            def turn_events(
                settings: ModelSettings = settings, step: int = step, step_specs: list[ToolSpec] = step_specs
            ) -> AsyncIterator[Any]:
                return self._turn(
                    conv.messages, step_specs, settings, step, state, state.deadline(self.budget)
                )

            async for item in self.steps.model_turn(step, seq_before, turn_events):
                if isinstance(item, ModelTurn):
                    turn = item
                else:
                    yield item  # type: ignore[misc]
            state.seq = seq_before + turn.events  # a replayed turn emitted nothing here
            if turn.error is not None:
                yield failed(turn.error, "model_error", step)
                return
            text, calls, malformed, step_usage = turn.text, turn.calls, turn.malformed, turn.usage
            add_usage(state.usage, step_usage)
            yield state.emit(StepFinished, step=step, usage=step_usage, duration_ms=turn.duration_ms)
            if turn.timed_out or time.perf_counter() > state.deadline(self.budget):
                yield failed(
                    f"The run took longer than its {self.budget.max_wall_s:.0f} s budget before answering. "
                    "Raise ERRAND_MAX_WALL_S or ask for less.",
                    "budget",
                    step,
                )
                return
            question = next(
                (
                    c
                    for c in calls
                    if c.name == prompts.ASK_USER.name and prompts.ASK_USER.name not in registry
                ),
                None,
            )
            if question is not None and not final:
                asked = str(question.arguments.get("question") or "").strip() or text.strip()
                if asked:
                    conv.messages.append(Message(role="assistant", content=asked))
                    if self._not_in_chinese(task, asked, state, step):
                        # Asked in English: once more in Chinese, and still only a question.
                        state.revision_step, state.only_tools = step + 1, {prompts.ASK_USER.name}
                        yield _in_chinese_again(prompts.ASK_IN_CHINESE, state, conv, step)
                        continue
                    state.asked = asked
                    yield finished(asked, step, [])
                    return
                calls = [c for c in calls if c is not question]
            if calls and not final:
                if self.ground_arguments:
                    said = "\n".join(state.user_texts)
                    calls, state.notes = ground_calls(
                        calls,
                        registry,
                        state.known,
                        limits_in(said),
                        time_limits(said),
                        state.user_texts,
                        state.results,
                    )
                state.called |= {c.name for c in calls}
                conv.messages.append(
                    Message(role="assistant", content=text.strip() or None, tool_calls=calls)
                )
                outcome: RunFailed | RunFinished | None = None
                async for event in self._act(calls, registry, step, user, state, conv, failed):
                    yield event
                    if isinstance(event, RunFailed | RunFinished):
                        outcome = event
                if outcome is not None:
                    return
            elif malformed and not final:
                conv.messages.append(Message(role="assistant", content=text + malformed[0].raw))
                conv.messages.append(
                    Message(
                        role="user",
                        content=prompts.MALFORMED_CALL.format(
                            reason=malformed[0].reason, names=", ".join(t.name for t in registry)
                        ),
                    )
                )
            elif text.strip():
                answer = prompts.without_echoes(text, task)  # "" when it only echoed
                conv.messages.append(Message(role="assistant", content=answer or text.strip()))
                undone = self._left_undone(registry, state, step)
                unread = [] if undone else self._planned_unread(plan, registry, state, step)
                follow = [] if undone or unread else self._follow_up_writes(registry, state, step)
                unread = unread or follow
                if undone or unread:
                    # Small models stop after a search and describe the booking instead of
                    # making it, or stop after the first half of an errand (the train booked,
                    # the hotel the plan named never searched): remind them (twice at most),
                    # and have the next step call a tool (or ask the user). A refusal then
                    # comes from the service, and the user still confirms any write.
                    state.reminders += 1
                    state.results_at_reminder = len(state.results)
                    state.revision_step = step + 1  # a call, not another description of it
                    state.only_tools = set(unread)
                    conv.messages.append(
                        Message(
                            role="user",
                            content=prompts.FOLLOW_UP_WRITE.format(tools=", ".join(follow))
                            if follow
                            else prompts.PLANNED_TOOL.format(tools=", ".join(unread))
                            if unread
                            else prompts.UNFINISHED_ACTION,
                        )
                    )
                    yield state.emit(
                        RevisionRequested, step=step, unverified_numbers=[], reason="unfinished_action"
                    )
                    continue
                invented = unverified_in(answer, state.known)
                # An id nobody wrote (a listing, a booking) is made up, as a figure would be.
                made_up = sorted(i for i in named_ids(answer) if i.upper() not in state.named)
                if (
                    (invented or made_up)
                    and state.revisions < self.budget.max_revisions
                    and step + 1 < self.budget.max_steps
                ):
                    # One chance to ground the answer: call the tool that computes the
                    # figure, or drop it. The draft stays in history (append-only).
                    state.revisions += 1
                    state.revision_step = step + 1
                    conv.messages.append(
                        Message(
                            role="user",
                            content=prompts.UNGROUNDED.format(numbers=", ".join([*made_up, *invented])),
                        )
                    )
                    yield state.emit(RevisionRequested, step=step, unverified_numbers=[*made_up, *invented])
                    continue
                empty = not answer or self._says_nothing(answer, state)
                if (
                    state.revisions < self.budget.max_revisions
                    and step + 1 < self.budget.max_steps
                    and (empty or self._nameless(answer, state))
                ):
                    # "The best one is rated 4.8", "your last payment was 1,280 CNY": a small
                    # model drops the name the user asked for; or it reports nothing at all
                    # ("I'm sorry, but I can't assist with that."). One chance to say it.
                    state.revisions += 1
                    conv.messages.append(
                        Message(role="user", content=prompts.SAYS_NOTHING if empty else prompts.NAMELESS)
                    )
                    yield state.emit(RevisionRequested, step=step, unverified_numbers=[], reason="nameless")
                    continue
                if answer and self._not_in_chinese(task, answer, state, step):
                    yield _in_chinese_again(prompts.NOT_IN_CHINESE, state, conv, step)
                    continue
                # still nothing, after it was sent back once (or with no step left): what was found follows
                yield finished(answer or text.strip(), step, invented, said_nothing=empty)
                return
            elif not final:
                conv.messages.append(Message(role="user", content=prompts.FINAL_STEP))
            total = state.usage.prompt_tokens + state.usage.completion_tokens
            if total > self.budget.max_tokens:
                yield failed(
                    f"The run used {total} tokens, over its budget of {self.budget.max_tokens}, "
                    "before answering. Raise ERRAND_MAX_TOKENS or ask for less.",
                    "budget",
                    step,
                )
                return
        yield failed(
            f"The model did not answer within {self.budget.max_steps} steps. "
            "Raise --max-steps or make the request more specific.",
            "budget",
            self.budget.max_steps,
        )

    def _not_in_chinese(self, task: str, said: str, state: RunState, step: int) -> bool:
        """Whether what goes back to a Chinese request (an answer or a question) is not in
        Chinese, and may still be sent back once to be said in Chinese."""
        return (
            not state.rewritten_in_chinese
            and step + 1 < self.budget.max_steps
            and prompts.in_chinese(task)
            and not prompts.in_chinese(said)
        )

    def _says_nothing(self, answer: str, state: RunState) -> bool:
        """Whether ``answer`` reports nothing the tools said, where they said something: no
        figure, no id and no text they returned (a name, a district; dev: "The chart file is provided
        in the response." after a price trend). Only for runs that called no write: after one,
        the receipt or the refusal is the answer's footer (`RunState.footer`). Not a question back to the
        user, nor an answer to a search that found nothing."""
        last = state.results[-1] if state.results and state.called else None
        if last is None or found_nothing(last) or answer.rstrip().endswith(("?", "？")):
            return False  # nothing looked up in this run ("thanks!" in a chat), or nothing found
        if any(t.risk != "read" for t in _called(self.tools, state)):
            return False  # a write was called: the answer is about it (and its footer says what came of it)
        if numbers_in(answer) or named_ids(answer):
            return False
        return not any(
            quotes(answer, r, state.user_texts) or names_a_record(answer, records_in(r))
            for r in state.results
        )

    @staticmethod
    def _nameless(answer: str, state: RunState) -> bool:
        """Whether ``answer`` names none of the records the run's latest lookup returned, where
        it returned some, the user named none of them, and no write came after it. A question
        back to the user, or an answer stating how many the lookup found, names none, and is
        let be."""
        if state.lookup is None or answer.rstrip().endswith(("?", "？")):
            return False
        records = records_in(state.lookup)
        found = count_of(state.lookup)
        if found is not None and found > 1 and any(v == found for _, v in numbers_in(answer)):
            return False  # "177 are for sale": about the set, not one of them
        typed = id_forms(state.loose_ids)
        if any(record_ids(r) & typed for r in records) or id_forms(ids_in_text(answer)) & typed:
            return False  # the user said which, or the answer is about the one they said
        return bool(records) and not names_a_record(answer, records)

    def _left_undone(self, registry: ToolRegistry, state: RunState, step: int) -> bool:
        """Whether a draft answer leaves undone the change the plan says the user asked for: at
        most `MAX_REMINDERS` times a run, and again only after a lookup made since the last.
        Not where the user's own limits ruled out what they asked for (`RunState.refused_by_lookup`)."""
        return (
            state.acts
            and not state.acted
            and not state.refused_by_lookup
            and state.reminders < MAX_REMINDERS
            and (state.reminders == 0 or len(state.results) > state.results_at_reminder)
            and step + 1 < self.budget.max_steps
            and any(t.risk != "read" for t in registry)
        )

    def _planned_unread(self, plan: Plan, registry: ToolRegistry, state: RunState, step: int) -> list[str]:
        """The tools the plan named, of a service the run has acted in, that the run never
        called: the half of an errand a small model forgets once the other half is booked
        (dev: tr-weekend-hangzhou-600 booked the train; `search_hotels`, named by the plan,
        was never called, and then `book_hotel`). The lookups first, then the payments (never a
        cancel, return or exchange: dev sh-u-exchange-bigger-powerbank-zh exchanged the power
        bank, and the plan's `return_item` then returned it); never a tool called before, so a reminder cannot book twice (and the user confirms a write). Only where the run looked
        something up in that service before (a booking of an id the user typed needs no
        search); none after a refusal (the user hears why first), and within `MAX_REMINDERS`."""
        if (
            not (state.acts and state.acted)
            or state.refusal is not None
            or state.reminders >= MAX_REMINDERS
            or step + 1 >= self.budget.max_steps
        ):
            return []
        looked_in = {t.domain for t in _called(registry, state) if t.risk == "read"}
        planned = [
            t
            for name in plan.tools
            if (t := registry.get(name)) is not None
            and t.domain in state.acted_in & looked_in
            and name not in state.called
            and t.risk in ("read", "payment")  # never a cancel, return or exchange pushed after a write
        ]
        unread = [t.name for t in planned if t.risk == "read"]
        return unread or [t.name for t in planned]

    def _follow_up_writes(self, registry: ToolRegistry, state: RunState, step: int) -> list[str]:
        """The writes never called, of a service the run has acted in, that take an id the
        lookup made since the last write returned (their `FromResults` keys): the second
        booking of an errand, searched for and then only described (dev tr-weekend-hangzhou-600
        booked the train, searched hotels, and answered with the cheapest one unbooked, its
        reminders spent). One reminder beyond `MAX_REMINDERS`; ``ask_user`` stays open. Only a
        payment (a booking, an order, a purchase): a cancel or return is never pushed."""
        if (
            not (state.acts and state.acted)
            or state.lookup is None
            or state.refusal is not None
            or state.reminders > MAX_REMINDERS
            or step + 1 >= self.budget.max_steps
        ):
            return []
        return [
            t.name
            for t in registry
            if t.risk == "payment"  # a new booking or order; never a cancel, return or exchange
            and t.domain in state.acted_in
            and t.name not in state.called
            and any(isinstance(p, FromResults) and p.found_in(state.lookup) for p in t.provenance.values())
        ]

    async def _turn(
        self,
        messages: list[Message],
        specs: list[ToolSpec],
        settings: ModelSettings,
        step: int,
        state: RunState,
        deadline: float,
    ) -> AsyncIterator[BaseModel | ModelTurn]:
        """One model step: its text and reasoning as live events, then the `ModelTurn`."""
        started, first_seq, turn = time.perf_counter(), state.seq, ModelTurn()
        try:
            stream = self.model.stream(messages, specs, settings)
            async for ev in _closing(stream):
                if isinstance(ev, TextDelta):
                    turn.text += ev.text
                    yield state.emit(TextDeltaEvent, step=step, text=ev.text)
                elif isinstance(ev, ReasoningDelta):
                    yield state.emit(ReasoningDeltaEvent, step=step, text=ev.text)
                elif isinstance(ev, ToolCallEvent):
                    call_id = f"call_{step}_{len(turn.calls)}"
                    c = ev.call
                    turn.calls.append(c if c.id == call_id else c.model_copy(update={"id": call_id}))
                elif isinstance(ev, MalformedToolCall):
                    turn.malformed.append(ev)
                elif isinstance(ev, UsageEvent):
                    turn.usage = ev.usage
                elif isinstance(ev, Finish):
                    pass
                if time.perf_counter() > deadline:
                    turn.timed_out = True
                    break
        except ModelError as exc:
            turn.error = str(exc)
        except Exception as exc:  # a backend's unexpected error ends the run, never leaves it running
            turn.error = f"The model backend failed unexpectedly ({type(exc).__name__}: {exc})."
        turn.events = state.seq - first_seq
        turn.duration_ms = (time.perf_counter() - started) * 1000
        yield turn
