"""The prompt text the agent sends. Stable on purpose: no dates, ids or counters here,
so every backend's prefix cache can reuse the system prompt and tool schemas."""

from __future__ import annotations

import difflib
import re
import string
from datetime import date

from errand.agent.dates import date_notes
from errand.llm.types import ToolSpec

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def in_chinese(text: str) -> bool:
    """Whether ``text`` is written in Chinese: more Han characters than Latin words (by script,
    not by a word list; an English request naming one Chinese dish stays English)."""
    return len(_CJK.findall(text)) > len(_LATIN_WORD.findall(text))


SYSTEM_PROMPT = """You are errand, an assistant that gets errands done by calling tools.
Rules:
- Use tools to look things up and to compute. The tools filter, rank and calculate for you.
- Every number in your answer must come from a tool result. Never guess a price or a figure.
- Call a tool only when you still need information. Never repeat a call you already made.
- When the user asks you to book, order, buy, pay or cancel, call the tool that does it: the
  user is asked to confirm before anything happens. Use ids exactly as the results give them.
- If you need a detail only the user knows (a name, an address, which option), call ask_user.
- When the tool results answer the request, reply to the user: name what you recommend or did,
  with the figures that support it (price, rating, time, id), and mention any chart file.
  Be concise. Reply in the user's language."""

ASK_USER = ToolSpec(
    name="ask_user",
    description=(
        "Ask the user a question and wait for the answer: for a detail only they can give "
        "(a name, an address, a date, a choice). Never make such a detail up. Never ask whether "
        "to go ahead: the tool that books, orders, buys or cancels asks the user to confirm."
    ),
    parameters={
        "type": "object",
        "properties": {
            "question": {"type": "string", "description": "The question, in the user's language."}
        },
        "required": ["question"],
    },
)
"""The agent's own action besides tools and answers: whether it asked is then a fact."""

AFTER_RESULT = (
    "\n\n[The result is above. If it answers the request, reply to the user now using its "
    "figures. Otherwise call a different tool.]"
)
"""Appended to every tool result: small models otherwise re-issue the same call."""

AFTER_ERROR = (
    "\n\n[If the call was wrong, fix what the error names and try again, keeping the details the "
    "user gave and leaving out what the user did not ask for. If the service refused (sold out, too late, not allowed, not enough money), "
    "tell the user why, in the service's words, and what they can do instead.]"
)
"""Appended to a failed call's observation: small models otherwise give up at the first error,
or answer a refusal by asking for details the user already gave."""

AFTER_NOTHING = (
    "\n\n[Nothing matched. If a word, filter or value the user did not give caused it, call "
    "again without it (or with plainer words); if the user's own limits leave nothing, say so.]"
)
"""Appended to a search that found nothing: the 1.5B answered "I can't assist with that" after
searching a made-up word or a filter nobody asked for."""

CHANGED_ARGUMENTS = "[errand changed this call: {changes}.]\n"

INVENTED_ID = (
    "{name} was not run: {ids} does not come from the user or any tool result. "
    "Search first and use an id the search returns."
)

INVENTED_NAME = (
    "{name} was not run: the user did not give {names} as {what}. Call ask_user to ask for "
    "{what}; do not make it up or take it from a tool result."
)

NOT_AS_ASKED = (
    "{name} was not run, as it is not what the user asked for: {why}. If one that fits what they "
    "asked for is available, call {name} again with it. If none is (sold out, full), tell them "
    "so and offer the alternative; do not buy or book something else without asking."
)

WHICH_ONE = (
    "{name} was not run: the user named one of several with the same name ({rows}). Call "
    "ask_user to ask which one they mean, telling them apart by what differs."
)
"""After a write whose id picks one of several result rows named as the user named it
(`provenance.several_named`): the next step can only ask."""

NOT_ASKED = (
    "{name} was not run: the user asked a question, not for anything to be booked, ordered or "
    "paid. Answer the question from the results above, and offer to do it if they want."
)

REPEATED_CALL = (
    "You already called {name} with exactly these arguments; its result is above. "
    "Do not call it again: answer the user from the results, or call a different tool."
)

MALFORMED_CALL = (
    "Your tool call could not be used: {reason}. Write a call as "
    '<tool_call>{{"name": "<tool>", "arguments": {{...}}}}</tool_call> using one of: {names}. '
    "Or answer the user in plain text."
)

UNKNOWN_TOOL = "There is no tool named {name!r}. Available tools: {names}."

REJECTED = "The user did not approve {name}. Nothing was done.{note} Tell the user, and do not retry it."

UNGROUNDED = (
    "Your answer states {numbers}, which no tool result contains. Call the tool that computes "
    "it, or answer again using only figures from the tool results."
)

NAMELESS = (
    "Your answer does not say which one it is about. Answer the user again with the same "
    "figures, naming each one you mean by its name and id exactly as the results give them."
)

SAYS_NOTHING = (
    "Your answer does not tell the user what the tools found. Answer the user again with the "
    "figures, names and ids from the results that answer the request (or, if a service refused, "
    "its reason and what they can do instead)."
)

NOT_IN_CHINESE = "[用户是用中文提问的。请用中文重新回答用户，名称、编号和数字照原样保留。]"
"""After an answer to a Chinese request that is not in Chinese (by script, `in_chinese`): the
request's own "Reply in Chinese." is not always heeded by the 1.5B (dev fd-best-sichuan-shanghai-zh,
wl-u-priciest-food-week-zh)."""

ASK_IN_CHINESE = "[用户是用中文提问的。请用中文向用户提出这个问题（ask_user），名称、编号和数字照原样保留。]"
"""After a question (`ask_user`) to a Chinese request that is not in Chinese: dev wl-u-last-sgd-zh
asked which currency in English."""

UNFINISHED_ACTION = (
    "[The user asked you to do something (book, order, buy, cancel, return, ...) and no tool has "
    "done it yet. Call the tool that does it now, with the ids from the results above and the "
    "details from the request: the user will be asked to confirm, and if it cannot be done the "
    "tool will say why. If a detail only the user knows is missing, call ask_user instead.]"
)

PLANNED_TOOL = (
    "[Part of the request is not done yet: your plan named {tools}, and it has not been called. "
    "Call it now for that part, with the ids from the results above and the details from the "
    "request (the user confirms any booking or order first).]"
)
"""After a write, when the plan named a tool of the same service that was never called: a
lookup, then the write after it (`Agent._planned_unread`)."""

FOLLOW_UP_WRITE = (
    "[You looked this up after the booking, and nothing from it is booked yet. If the user asked "
    "you to book, order or buy one of these too, call {tools} now with its id from the result "
    "above (the user confirms it first); if they did not, call ask_user.]"
)
"""After a lookup made since the run's last write, whose ids a write never called takes
(`Agent._follow_up_writes`): the second half of an errand, searched for and then described."""

UNSUMMARISED = "Done: what this run booked, ordered or paid is below. ({reason})"
UNSUMMARISED_ZH = "已完成：本次预订、下单或支付的编号如下。（{reason}）"
"""The answer of a run that made a booking or payment and then could not write its answer
(out of time, a model error): the receipt follows, and the reason says why it is short."""

CANNOT_ACT = (
    "\n[None of the tools here can make this change. Look up what helps, then tell the user it "
    "cannot be done here and what they can do instead.]"
)
"""After a request the plan says asks for a change, where none of the offered tools writes
(the wallet's tools only read): the 1.5B otherwise answered "I need to confirm the transaction"."""

FINAL_STEP = "[No more tool calls are possible. Answer the user now from the results above.]"


def _template(text: str) -> str:
    """A pattern that matches ``text`` however its ``{fields}`` were filled in."""
    return "".join(
        re.escape(literal) + (".*" if field is not None else "")
        for literal, field, _, _ in string.Formatter().parse(text)
    )


_NOTE = re.compile(
    "|".join(
        _template(t)
        for t in (
            MALFORMED_CALL,
            UNGROUNDED,
            NAMELESS,
            SAYS_NOTHING,
            NOT_IN_CHINESE,
            ASK_IN_CHINESE,
            UNFINISHED_ACTION,
            PLANNED_TOOL,
            FOLLOW_UP_WRITE,
            FINAL_STEP,
        )
    ),
    re.DOTALL,
)


def is_note(text: str) -> bool:
    """Whether a user message of a conversation is errand's own note to the model (a reminder,
    an answer sent back), not something the user said."""
    return _NOTE.fullmatch(text.strip()) is not None


def dated_task(task: str, now: str) -> str:
    """The user's request with the date and time, and the calendar date of every date phrase in
    it ("next friday" = 2026-12-04), kept out of the system prompt so the prefix stays stable.

    ``now`` starts with the ISO date (``2026-11-29 12:00, Sunday, ...``)."""
    try:
        notes = date_notes(task, date.fromisoformat(now[:10]))
    except ValueError:
        notes = ""
    dates = f" Dates in the request: {notes}." if notes else ""
    language = " Reply in Chinese." if in_chinese(task) else ""
    return f"{task}\n\n(Now: {now}.{dates}{language})"


_OWN_TEXTS = tuple(
    t.split()
    for t in (
        SYSTEM_PROMPT,
        AFTER_RESULT,
        AFTER_ERROR,
        AFTER_NOTHING,
        REPEATED_CALL,
        UNGROUNDED,
        NAMELESS,
        SAYS_NOTHING,
        NOT_IN_CHINESE,
        ASK_IN_CHINESE,
        WHICH_ONE,
        UNFINISHED_ACTION,
        PLANNED_TOOL,
        FOLLOW_UP_WRITE,
        CANNOT_ACT,
        FINAL_STEP,
    )
)
_TAG = re.compile(r"</?tool_(?:response|call)>")
_NOW = re.compile(r"^\(Now: [^)]*\)$")
_LABEL = re.compile(r"^\s*Answer:\s*")
"""The label of the worked examples' answers (`errand.agent.examples`), copied before an answer."""


def _copied(words: list[str], source: list[str], *, slack: float = 0.2, most: int | None = None) -> bool:
    """Whether ``words`` (six or more) appear in ``source`` in order, all but a ``slack`` share
    of them (or all but ``most``): a copy, with placeholders filled in or the end cut off."""
    if len(words) < 6:
        return False
    blocks = difflib.SequenceMatcher(None, words, source, autojunk=False).get_matching_blocks()
    missing = len(words) - sum(b.size for b in blocks)
    return missing <= (most if most is not None else slack * len(words))


def without_echoes(answer: str, request: str) -> str:
    """The answer without the parts a small model copied instead of answering: errand's own
    instructions (``[The result is above. ...]``, ``You already called ...``), the request's
    date line (``(Now: ...)``), ``<tool_response>`` tags, the worked example's ``Answer:`` label,
    and the request itself repeated. If nothing else is left, "" where the date line or an
    instruction was among what was copied (dev fd-ambiguous-restaurant answered with the request
    and its date line, whose year was then sent back as an ungrounded figure): the run asks
    again, and only then shows what the model said. Otherwise the answer as it was: "Booked
    flight CA1101 for Dave Chen." says much of what "Book flight CA1101 ... for Dave Chen." did."""
    asked = request.split()

    copied = False  # the date line or an instruction among the parts left out

    def echoed(text: str) -> bool:
        nonlocal copied
        words = text.split()
        # errand's instructions, however filled in; the request, give or take "To ... please"
        if words and (bool(_NOW.match(" ".join(words))) or any(_copied(words, own) for own in _OWN_TEXTS)):
            copied = True
            return True
        return not words or _copied(words, asked, most=2)

    kept = []
    for part in re.split(r"\n\s*\n", _TAG.sub("", _LABEL.sub("", answer))):
        if echoed(part):
            continue
        # two instructions echoed on consecutive lines (the 0.5B's whole answer): each line alone
        lines = [line for line in part.strip().split("\n") if not echoed(line)]
        if lines:
            kept.append("\n".join(lines).strip())
    if kept:
        return "\n\n".join(kept)
    return "" if copied else answer.strip()
