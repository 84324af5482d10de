"""Does a request ask errand to do something (book, order, buy, cancel), not only to find out?

Small models often stop after the first search of such an errand and describe the call they
should make. The loop uses this to remind them once (`errand.agent.loop`); a question that only
uses the same words as nouns ("where is my order?") is not an action.
"""

from __future__ import annotations

import re

_VERBS = "book|order|buy|purchase|reserve|cancel|return|exchange|pay|get me|set up|schedule|arrange"
_ACTION = re.compile(
    # the verb opens a sentence or clause, or follows "to", "and", "then", "please", "also", "just"
    rf"(?:^|[.!?;,:]\s*|\b(?:to|and|then|please|also|just|can you|could you)\s+)(?:{_VERBS})\b",
    re.IGNORECASE | re.MULTILINE,
)
_ACTION_ZH = re.compile(
    r"预订|订(?:一|个|张|间|票|机票|酒店|火车)|帮我(?:订|买|点|下单|取消|退|换|预约)|下单|取消|退货|换货|购买|预约"
)


_OFFER = re.compile(
    r"\b(?:shall i|should i|would you like me to|do you want me to|want me to|may i)\b|要不要|需要我|是否需要",
    re.IGNORECASE,
)


_ASKS = re.compile(
    r"\b(?:please (?:provide|tell|give|confirm|specify|let me know)|let me know|could you (?:provide|tell)"
    r"|i need (?:to know|the|your))\b|请提供|请告诉|请问",
    re.IGNORECASE,
)


def asks_the_user(draft: str) -> bool:
    """Whether a draft answer asks the user for something (a date, a name, a choice).

    An offer to do what was already asked ("Shall I book it?") does not count: the booking's
    confirmation is where the user says yes.
    """
    tail = draft.strip()[-200:]
    if _OFFER.search(tail):
        return False
    return tail.endswith(("?", "？")) or bool(_ASKS.search(tail))


def asks_for_action(request: str) -> bool:
    """Whether ``request`` asks for a write: a verb of doing, used as a verb.

    >>> asks_for_action("Find the cheapest hotel and book it for Li Na")
    True
    >>> asks_for_action("Where is my food order FO-000001?")
    False
    """
    return bool(_ACTION.search(request.strip()) or _ACTION_ZH.search(request))
