"""What a run carries from step to step: its budget, the conversation, and what it has learnt
(ids, numbers, names, records made) that grounds later calls and the answer."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from errand.agent.grounding import numbers_in
from errand.agent.observations import names_a_record, record_id, records_in, summarize
from errand.llm.types import Message, Usage
from errand.tools import Tool, ToolContext
from errand.tools.provenance import FromResults, id_forms, ids_in_text, named_ids


@dataclass(frozen=True)
class Budget:
    """Limits that end a run."""

    max_steps: int = 8
    """Most model calls; the last one is offered no tools, so it must answer."""
    max_tokens: int = 60_000
    """Most prompt plus completion tokens over the run."""
    max_wall_s: float = 300.0
    """Most seconds, checked between model events and tool calls."""
    max_repeats: int = 3
    """A call repeated this many times with the same arguments ends the run."""
    max_revisions: int = 1
    """Answers sent back because they state figures no tool result contains."""


@dataclass(frozen=True)
class CallInfo:
    """What a tool-context factory knows about the call it prepares."""

    run_id: str
    user: str
    step: int
    call_id: str
    name: str
    idempotency_key: str


E = TypeVar("E", bound=BaseModel)

ContextFactory = Callable[[CallInfo], AbstractContextManager[ToolContext]]
"""Opens what a tool call needs (a database session in a transaction); entered in the
thread the tool runs in."""


@dataclass
class Conversation:
    """Messages of a multi-turn chat; each run appends its request, calls and answer."""

    messages: list[Message] = field(default_factory=list)


@dataclass
class RunState:
    """One run's progress: what it has seen, made and been told, step by step."""

    run_id: str
    seq: int = 0
    usage: Usage = field(default_factory=Usage)
    user_texts: list[str] = field(default_factory=list)
    """What the user said in this chat: where names and addresses may come from."""
    results: list[Any] = field(default_factory=list)
    """Every successful tool result (plain data): where ids may come from."""
    loose_ids: set[str] = field(default_factory=set)
    """Id-like tokens the user typed (the request, earlier messages, text read from pictures)."""
    request_ids: set[str] = field(default_factory=set)
    """Id-like tokens of this request alone: the records it is about ("SH-R040 min order?")."""
    known: set[float] = field(default_factory=set)
    """Every number the request and the tool results state (grounds arguments and answers)."""
    artifacts: list[str] = field(default_factory=list)
    repeats: dict[str, int] = field(default_factory=dict)
    revisions: int = 0
    rewritten_in_chinese: bool = False
    """Whether an answer to a Chinese request, written in another language, was sent back once
    (`prompts.NOT_IN_CHINESE`); apart from ``revisions``, which a figure may have spent."""
    revision_step: int = 0
    """The step that must call a tool to ground figures of a draft answer."""
    answer_step: int = 0
    """The step that is offered no tools and must answer: the one after a repeated call (a small
    model that repeats a call otherwise repeats it until the run is stopped)."""
    acted_in: set[str] = field(default_factory=set)
    """The services whose write or payment tools got as far as their confirmation (whatever
    came of it)."""
    called: set[str] = field(default_factory=set)
    """The tools the model called in this run (a call errand turned down counts too)."""
    only_tools: set[str] = field(default_factory=set)
    """The tools the step after a reminder (`revision_step`) may call, when it names some."""
    acts: bool = False
    """The model's plan says the user asked for a change (book, order, cancel), not only information."""
    finds_only: bool = False
    """The model's plan for a conversation's first request says the user only asks to find
    something out: no write is offered (a 1.5B asked "which is the earliest train?" booked one,
    and asked the user for passenger names instead of answering)."""
    asked: str | None = None
    """The question of an ``ask_user`` call: the run ends with it, waiting for the user's reply."""
    made: list[str] = field(default_factory=list)
    """References of records this run's writes created (a booking id, an order id): the answer
    must name them, since they are the user's receipt."""
    made_for: dict[str, list[str]] = field(default_factory=dict)
    """Per reference in `made`: the ids the write acted on (the listing a viewing is of), which
    the receipt names too when the answer does not."""
    refusal: str | None = None
    """Why the run's latest write did not happen, until a later one goes through: the service's
    refusal ("Sold out: no seats left on G16"), or the user's standing rule that rejected it
    (a person who rejected it knows). The user must hear that nothing was done, and why. Also,
    in a run asked to act, what the user's own limits ruled out of a search that then found
    nothing (`observations.ruled_out`), until a later lookup finds something."""
    refused_by_lookup: bool = False
    """Whether `refusal` came from a lookup that found nothing, not from a write."""
    reminders: int = 0
    """How often the model was reminded that the request asked for an action it had not taken."""
    results_at_reminder: int = 0
    """How many results the run had at the last reminder: a second reminder only follows a
    lookup made since (the product's variants, read after the first; the 1.5B then described
    the purchase again), never a model that answered the same way twice."""
    retried: bool = False
    """A step whose every call went wrong was followed once by a step that must call again."""
    subjects: list[str] = field(default_factory=list)
    """Ids the latest successful lookups were about (``mortgage_estimate(listing_id=SZ-00250)``):
    an answer that names none of them leaves the user guessing which home its figures are for."""
    lookup: Any = None
    """The latest lookup's result, while no write came after it: what an answer reports on."""
    named: set[str] = field(default_factory=set)
    """Identifiers (``HZ-00042``, ``G16``) the user or a tool result wrote: what an answer may name."""
    notes: dict[str, str] = field(default_factory=dict)
    """Per call id: arguments errand dropped, told to the model with the result."""
    started: float = field(default_factory=time.perf_counter)
    waited_s: float = 0.0
    """Seconds spent waiting for the user's approval (not counted against the wall-time budget)."""
    attachments: tuple[str, ...] = ()
    """The request's images as data URLs, numbered as its notes number them ("" for one not read),
    for ``read_image`` (`errand.agent.attachments`); none when the model reads images."""

    @property
    def acted(self) -> bool:
        """A write or payment tool got as far as its confirmation (whatever came of it)."""
        return bool(self.acted_in)

    def emit(self, cls: type[E], **fields: Any) -> E:
        """The next event of this run (built without re-validating errand's own fields)."""
        self.seq += 1
        return cls.model_construct(run_id=self.run_id, seq=self.seq, **fields)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def deadline(self, budget: Budget) -> float:
        """When the run's wall-time budget ends, not counting time spent waiting for approvals."""
        return self.started + budget.max_wall_s + self.waited_s

    def ids_for(self, t: Tool) -> set[str]:
        """The ids any `FromResults` parameter of ``t`` may take."""
        ids = self.ids_of(t)
        return set().union(*(ids(p) for p in t.provenance.values() if isinstance(p, FromResults)))

    def ids_of(self, t: Tool) -> Callable[[FromResults], set[str]]:
        """The ids each `FromResults` parameter of ``t`` may take (`ids`, for a write: `written`)."""
        return self.ids if t.risk == "read" else self.written

    def written(self, source: FromResults) -> set[str]:
        """The ids a write's parameter may take: where the user typed ids of its shape ("order
        from HZ-R005", "cancel BK-000001", a train "G10"), only those and the fuller ids a result
        gave for them (G10-20261212-second); a search's other results are no licence to order
        from another restaurant. Otherwise every id `ids` knows."""
        known = self.ids(source)
        if source.typed and source.shape is not None:
            named = {i.upper() for i in self.loose_ids if source.fits(i)}
            if named:  # or a fuller form of one: "G10" typed, G10-20261212-second found
                return {i for i in known if id_forms([i]) & named}
        return known

    def footer(self, answer: str, chinese: bool, *, said_nothing: bool = False) -> str:
        """What the answer must carry and left out: the references of records the run made (the
        user's receipt), the service's refusal of a write that did not go through, what the latest
        lookup found where the answer reports nothing of it (its tool card's line), and the ids
        its last figures were about (a lookup's arguments, or the one record it found), unless
        the user wrote them. ``said_nothing``: the answer still reports nothing the tools said
        after it was sent back once (`prompts.SAYS_NOTHING`; the 1.5B wrote "I apologize, but I
        cannot assist with that request." again)."""
        lines = []
        said = id_forms(named_ids(answer)) | id_forms(_ids_of(self.user_texts))
        receipt = []
        for ref in self.made:  # a small model says "booked" and leaves out the booking reference
            about = [i for i in self.made_for.get(ref, []) if not _named_in(i, said)]
            if ref not in answer or about:
                receipt.append(f"{ref} ({', '.join(about)})" if about else ref)
        if receipt:
            lines.append(f"{'编号' if chinese else 'Reference'}: {', '.join(receipt)}")
        if self.refusal is not None and self.refusal not in answer:
            lines.append(f"{'未完成' if chinese else 'Not done'}: {self.refusal}")
        if said_nothing and self.lookup is not None:
            lines.append(f"{'查询结果' if chinese else 'Results'}: {summarize(self.lookup)}")
        about = self.subjects or self._only_record() or self._stated_records(answer)
        if about and not any(_named_in(i, said) for i in about):
            lines.append(f"{'依据' if chinese else 'Based on'}: {', '.join(about)}")
        return "".join(f"\n\n{line}" for line in lines)

    def _only_record(self) -> list[str]:
        """The id of the one record the latest lookup found ("your last SGD payment":
        ``limit=1``), which is what an answer from it is about, even when it does not say so."""
        found = records_in(self.lookup) if self.lookup is not None else []
        only = record_id(found[0]) if len(found) == 1 else None
        return [only] if only and named_ids(only) == {only} else []

    def _stated_records(self, answer: str) -> list[str]:
        """The ids of the latest lookup's records (three at most) whose own figure the answer
        states, a figure no other record of it has: "your last payment was 749.95 CNY on
        2026-11-21" is about PAY-001515, though it does not say so (dev wl-last-payment)."""
        found = records_in(self.lookup) if self.lookup is not None else []
        if len(found) < 2 or names_a_record(answer, found):
            return []
        stated = {round(v, 2) for _, v in numbers_in(answer)}
        figures = [_figures(r) for r in found]
        seen = Counter(f for fs in figures for f in fs)
        about = [
            record_id(r)
            for r, fs in zip(found, figures, strict=True)
            if any(seen[f] == 1 for f in fs & stated)
        ]
        ids = [i for i in about if i is not None and named_ids(i) == {i}]
        return ids if len(ids) <= 3 else []

    def ids(self, source: FromResults) -> set[str]:
        """The ids a `FromResults` parameter may take: values under its keys in the results, and
        id-like tokens the user typed that have its ids' shape, where it declares one (the date
        in "from 2026-12-12" is no hotel id), and none for ids a user cannot know
        (`FromResults.typed`). With a shape, a token of that shape anywhere in a result counts
        too: a payment's memo ("Order FO-000001 at Green Leaf") names an order."""
        typed = self.loose_ids if source.typed else set()
        found = {i for i in typed if source.shape is None or source.fits(i)}
        for r in self.results:
            found |= source.found_in(r)
            if source.shape is not None:
                text = r if isinstance(r, str) else json.dumps(r, ensure_ascii=False, default=str)
                found |= {i for i in ids_in_text(text) if source.fits(i)}
        return found


def _figures(record: dict[str, Any]) -> set[float]:
    """A record's own figures: its numbers, and the amounts its ``*_text`` fields write out
    ("-749.95 CNY"), not the parts of its dates or ids."""
    out: set[float] = set()
    for key, value in record.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.add(round(abs(float(value)), 2))
        elif isinstance(value, str) and key.endswith("_text"):
            out |= {round(v, 2) for _, v in numbers_in(value)}
    return out


def _named_in(ident: str, said: set[str]) -> bool:
    """Whether ``said`` (id forms of an answer) names ``ident`` by a form that is itself an id:
    ``G16`` names ``G16-20261205-second``, but ``CD`` of ``CD-00186`` does not name ``CD-00453``."""
    return any(f in said and named_ids(f) == {f} for f in id_forms([ident]))


def _ids_of(texts: Iterable[str]) -> set[str]:
    return {i for t in texts for i in named_ids(t)}


def add_usage(total: Usage, step: Usage) -> None:
    total.prompt_tokens += step.prompt_tokens
    total.completion_tokens += step.completion_tokens
    total.cached_tokens += step.cached_tokens
    total.reasoning_tokens += step.reasoning_tokens
    total.prompt_ms += step.prompt_ms
    total.completion_ms += step.completion_ms
