"""One step's tool calls: the checks before a call (repeats, unknown tools, arguments, ids and
names nobody gave), the confirmation a write needs (edits priced again), then the calls as
durable steps, with what each result teaches the run recorded in its `RunState`.

`CallRunner` is the half of `errand.agent.loop.Agent` that acts; the loop decides when.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from errand.agent import attachments, prompts
from errand.agent.confirm import POLICY, Approver, ConfirmationRequest, edit_of
from errand.agent.events import (
    ConfirmationRequired,
    ConfirmationResolved,
    Event,
    RunFailed,
    RunFinished,
    ToolCallStarted,
    ToolResultEvent,
)
from errand.agent.grounding import known_numbers, numbers_of
from errand.agent.observations import found_nothing, observation, references, ruled_out, summarize
from errand.agent.state import Budget, CallInfo, ContextFactory, Conversation, RunState
from errand.agent.steps import StepRunner
from errand.errors import ToolError
from errand.llm.types import Message, ToolCall
from errand.tools import Tool, ToolContext, ToolRegistry
from errand.tools.base import artifacts_folder
from errand.tools.calls import describe_call, run_call
from errand.tools.provenance import (
    FITTING,
    FromUser,
    id_forms,
    named_ids,
    not_as_asked,
    several_named,
    subject_ids,
    unknown_ids,
    unsaid,
)


def _call_key(call: ToolCall) -> str:
    return call.name + json.dumps(call.arguments, sort_keys=True, ensure_ascii=False, default=str)


class CallRunner:
    """Runs a step's calls for an agent: checked, confirmed, executed, recorded."""

    budget: Budget
    approver: Approver | None
    steps: StepRunner
    _context: ContextFactory | None
    _artifacts_dir: Path

    async def _act(
        self,
        calls: list[ToolCall],
        registry: ToolRegistry,
        step: int,
        user: str,
        state: RunState,
        conv: Conversation,
        failed: Callable[[str, Any, int], RunFailed | RunFinished],
    ) -> AsyncIterator[Event]:
        """Run one step's calls: confirm what needs it, execute in parallel, record results."""

        names = ", ".join(t.name for t in registry)
        ready: list[tuple[ToolCall, Tool, dict[str, Any]]] = []
        early: dict[str, tuple[bool, str]] = {}
        fixable: set[str] = set()
        """Calls that went wrong in a way another call can put right: an unknown tool, arguments
        that do not fit, a lookup the service could not answer as asked."""
        reads: list[ToolCall] = []  # the agent's own read_image action (#16, errand.agent.attachments)
        for call in calls:
            t = registry.get(call.name)
            own = t is None and attachments.handles(call.name, state.attachments)
            yield state.emit(
                ToolCallStarted,
                step=step,
                call_id=call.id,
                name=call.name,
                arguments=call.arguments,
                risk=t.risk if t else "read" if own else "unknown",
            )
            key = _call_key(call)
            state.repeats[key] = state.repeats.get(key, 0) + 1
            repeats = state.repeats[key] - 1
            if repeats >= self.budget.max_repeats:
                yield failed(
                    f"The model called {call.name} with the same arguments {repeats + 1} times "
                    "without using the result, so the run was stopped. Rephrase the request, "
                    "or use a larger model (ERRAND_MODEL_PATH or ERRAND_MODEL_URL).",
                    "repeated_call",
                    step,
                )
                return
            if repeats:
                early[call.id] = (False, prompts.REPEATED_CALL.format(name=call.name))
                state.answer_step = step + 1  # its result is in hand: the next step answers from it
                continue
            if own:  # read_image (#16): read-only, no confirmation; run below
                reads.append(call)
                continue
            if t is None:
                early[call.id] = (False, prompts.UNKNOWN_TOOL.format(name=call.name, names=names))
                fixable.add(call.id)
                continue
            if t.risk != "read" and state.finds_only:  # a backend that offered it anyway
                # before any check of its arguments: asking for a passenger's name is not an answer
                early[call.id] = (False, prompts.NOT_ASKED.format(name=t.name))
                continue
            try:
                validated = t.validate(call.arguments)
            except ToolError as exc:
                early[call.id] = (False, str(exc))
                fixable.add(call.id)
                continue
            # What the tool declares about its arguments' sources (a backend that cannot
            # constrain decoding, or a scripted model, may still send an invented value).
            invented = unknown_ids(validated, t.provenance, state.ids_for(t))
            if invented:
                early[call.id] = (False, prompts.INVENTED_ID.format(name=t.name, ids=", ".join(invented)))
                state.revision_step = step + 1  # the next step must act (search), not apologise
                continue
            unsaid_values = unsaid(validated, t.provenance, state.user_texts)
            if unsaid_values:
                what = next(  # of the parameter the user did not give (an order has three)
                    (
                        p.what
                        for n, p in t.provenance.items()
                        if isinstance(p, FromUser) and unsaid(validated, {n: p}, state.user_texts)
                    ),
                    "this value",
                )
                early[call.id] = (
                    False,
                    prompts.INVENTED_NAME.format(name=t.name, what=what, names=", ".join(unsaid_values)),
                )
                state.revision_step = step + 1  # ask the user (ask_user), not apologise
                continue
            if t.risk != "read":
                state.acted_in.add(t.domain)  # a write the user is asked to confirm (or one that runs)
                state.lookup = None  # the answer reports on the write now, approved or not
                other = not_as_asked(validated, t.provenance, state.results, state.user_texts)
                if other:  # the in-stock white pair for "grey, size 38", grey being sold out
                    # a refusal, as a service's would be: no reminder to act again, and the user hears why
                    early[call.id] = (False, prompts.NOT_AS_ASKED.format(name=t.name, why="; ".join(other)))
                    state.refusal = f"{t.name}: {'; '.join(o for o in other if not o.startswith(FITTING))}"
                    continue
                which = several_named(validated, t.provenance, state.results, state.user_texts)
                if which:  # two "Golden Beijing House" in Hangzhou: the user says which, not the model
                    early[call.id] = (False, prompts.WHICH_ONE.format(name=t.name, rows="; ".join(which)))
                    state.revision_step, state.only_tools = step + 1, {prompts.ASK_USER.name}
                    continue
                summary, quote = await self._describe(t, validated, step, call, user, state.run_id)
                request = ConfirmationRequest(
                    run_id=state.run_id,
                    call_id=call.id,
                    name=t.name,
                    risk=t.risk,
                    summary=summary,
                    amount=quote[0] if quote else None,
                    currency=quote[1] if quote else None,
                    arguments=call.arguments,
                    requested=state.acts,
                    editable=t.editable,
                )
                yield state.emit(
                    ConfirmationRequired,
                    step=step,
                    call_id=call.id,
                    name=t.name,
                    risk=t.risk,
                    summary=request.summary,
                    arguments=call.arguments,
                    amount=request.amount,
                    currency=request.currency,
                    editable=t.editable,
                )
                if self.approver is None:
                    yield failed(
                        f"{t.name} needs approval: {request.summary}. Run interactively to approve, "
                        "or pass --yes to approve everything.",
                        "confirmation_required",
                        step,
                    )
                    return
                asked_at = time.perf_counter()
                decision = await self.approver(request)
                # Waiting for a person is not the agent's time: a day-long wait must not end
                # the run as over budget (after charging for the approved call).
                state.waited_s += time.perf_counter() - asked_at
                while True:  # a person who changes the call sees it priced again and answers again
                    changes, edited, decision = edit_of(t, request, decision)
                    yield state.emit(
                        ConfirmationResolved,
                        step=step,
                        call_id=call.id,
                        approved=decision.approved,
                        note=decision.note,
                        edited=changes,
                        by=decision.by,
                    )
                    if edited is None:
                        break
                    call, validated = (
                        call.model_copy(update={"arguments": request.arguments | changes}),
                        edited,
                    )
                    summary, quote = await self._describe(t, validated, step, call, user, state.run_id)
                    request = request.model_copy(
                        update={
                            "arguments": call.arguments,
                            "summary": summary,
                            "amount": quote[0] if quote else None,
                            "currency": quote[1] if quote else None,
                        }
                    )
                    fields = request.model_dump(exclude={"run_id", "requested"})
                    yield state.emit(ConfirmationRequired, step=step, **fields)
                    asked_at = time.perf_counter()
                    decision = await self.approver(request)
                    state.waited_s += time.perf_counter() - asked_at
                if not decision.approved:
                    note = f" The user said: {decision.note}" if decision.note else ""
                    early[call.id] = (False, prompts.REJECTED.format(name=t.name, note=note))
                    if decision.by == POLICY:  # nobody saw it: the answer must say so
                        state.refusal = f"{t.name} was not approved ({decision.note or POLICY})"
                    continue
            ready.append((call, t, validated))

        jobs = [self._execute(call, t, args, step, user, state.run_id) for call, t, args in ready]
        outcomes = [await jobs[0]] if len(jobs) == 1 else await asyncio.gather(*jobs)
        by_id = {call.id: outcome for (call, _, _), outcome in zip(ready, outcomes, strict=True)}
        for call in reads:  # read_image (#16): a durable step, so a replay reads nothing again
            read = functools.partial(attachments.read_again, state.attachments, call.arguments)
            by_id[call.id] = await self.steps.tool_call(attachments.READ_IMAGE, read)
            attachments.learn(state, by_id[call.id])
            if not by_id[call.id][0]:
                fixable.add(call.id)  # no such image or region: another call puts it right
        went_right = False
        about: list[str] = []
        for call in calls:
            files: list[str] = []
            if call.id in early:
                ok, content = early[call.id]
                summary, ms = content[:120], 0.0
            else:
                ok, value, ms, files = by_id[call.id]
                content = observation(value) if ok else str(value)
                summary = summarize(value) if ok else str(value)[:200]
                # A service's refusal ("short by 149.00 CNY") is a source of figures too.
                state.known |= known_numbers([content]) if isinstance(value, str) else numbers_of(value)
                t = registry.get(call.name)
                if t is not None and t.risk == "read" and (not ok or found_nothing(value)):
                    # a lookup refuses nothing, and one that found nothing was likely asked wrongly
                    fixable.add(call.id)
                if t is not None and t.risk != "read":  # a refused write, until one goes through
                    state.refusal = None if ok else str(value).removeprefix(f"Error from {t.name}: ")
                    state.refused_by_lookup = False
                    state.lookup = None
                elif ok:
                    state.lookup = value
                    limited = ruled_out(value) if state.acts and not state.acted else []
                    # dev fd-peanut-allergy: the dish asked for has peanuts; the 1.5B asked "order it?"
                    if limited:
                        state.refusal, state.refused_by_lookup = "; ".join(limited), True
                    elif state.refused_by_lookup and not found_nothing(value):
                        state.refusal, state.refused_by_lookup = None, False
                if ok:  # what a service returned names ids; errand's refusals echo the model's own
                    state.named |= id_forms(named_ids(json.dumps(value, ensure_ascii=False, default=str)))
                    state.results.append(value)
                    if t is not None and t.risk == "read":  # a write's answer carries its receipt
                        about.extend(i for i in subject_ids(call.arguments, t.provenance) if i not in about)
                    if t is not None and t.risk != "read":  # a later write on a record (a cancel) undoes it
                        undone = {str(v) for v in call.arguments.values()}
                        state.made = [r for r in state.made if r not in undone]
                        for ref in references(value, call.arguments):
                            if ref not in state.made:
                                state.made.append(ref)
                                state.made_for[ref] = subject_ids(call.arguments, t.provenance)
                    state.artifacts.extend(f for f in files if f not in state.artifacts)
            went_right |= ok and call.id not in fixable
            shown = content + (
                prompts.AFTER_ERROR
                if not ok
                else prompts.AFTER_NOTHING
                if call.id in fixable
                else prompts.AFTER_RESULT
            )
            if call.id in state.notes:
                shown = prompts.CHANGED_ARGUMENTS.format(changes=state.notes[call.id]) + shown
            conv.messages.append(Message(role="tool", content=shown, tool_call_id=call.id, name=call.name))
            yield state.emit(
                ToolResultEvent,
                step=step,
                call_id=call.id,
                name=call.name,
                ok=ok,
                summary=summary,
                content=content,
                duration_ms=ms,
                artifacts=files,
            )
        if about:
            state.subjects = about
        if fixable and not went_right and not state.retried:
            # Every call went wrong and one of them can be put right: a small model otherwise
            # answers "try searching elsewhere". Once per run, the next step must call again
            # (or ask the user). A write's refusal is not fixable: the user hears it.
            state.retried = True
            state.revision_step = step + 1

    async def _describe(
        self, t: Tool, args: dict[str, Any], step: int, call: ToolCall, user: str, run_id: str
    ) -> tuple[str, tuple[int, str] | None]:
        """What a confirmation shows, and the amount it is about when the tool priced it (a
        durable step: a replayed run shows the same)."""
        if not t.confirm_needs_context:
            return t.describe_call(args), None
        info = self._call_info(call, t, step, user, run_id)
        return await self.steps.tool_call(
            f"describe:{t.name}", lambda: describe_call(t, args, lambda: self._open_context(info))
        )

    def _call_info(self, call: ToolCall, t: Tool, step: int, user: str, run_id: str) -> CallInfo:
        return CallInfo(
            run_id=run_id,
            user=user,
            step=step,
            call_id=call.id,
            name=t.name,
            idempotency_key=f"{run_id}:{step}:{call.id.rsplit('_', 1)[-1]}",
        )

    def _open_context(self, info: CallInfo) -> AbstractContextManager[ToolContext]:
        if self._context is not None:
            return self._context(info)
        return nullcontext(
            ToolContext(
                user=info.user,
                run_id=info.run_id,
                idempotency_key=info.idempotency_key,
                artifacts_dir=artifacts_folder(self._artifacts_dir, info.run_id),
            )
        )

    async def _execute(
        self, call: ToolCall, t: Tool, args: dict[str, Any], step: int, user: str, run_id: str
    ) -> tuple[bool, Any, float, list[str]]:
        """Run one validated call (a durable step); a tool's error becomes an observation."""
        info = self._call_info(call, t, step, user, run_id)

        async def run() -> tuple[bool, Any, float, list[str]]:
            done = await run_call(t, args, lambda: self._open_context(info))
            value = done.value if done.ok else f"Error from {t.name}: {done.value}"
            return done.ok, value, done.ms, done.files

        return await self.steps.tool_call(t.name, run)
