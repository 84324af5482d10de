"""Whether a prompt fits a model's context window, checked before the model is called.

A prompt far over the window would otherwise reach the model: a remote server refuses it, but
the embedded one may spend minutes of CPU first. Every entry point (the runs API, ``errand
run``, chat completions, the agent itself) asks this one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from errand.errors import ContextLengthExceeded
from errand.llm.types import Message, ToolSpec

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def estimate_tokens(messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
    """Prompt tokens, estimated without a tokenizer: 4 characters a token, one a token for CJK,
    plus a few per message for the template (a safe side: slightly high for English)."""
    parts = [m.text for m in messages]
    parts += [json.dumps(c.arguments, ensure_ascii=False) for m in messages for c in m.tool_calls]
    parts += [json.dumps(t.to_openai(), ensure_ascii=False) for t in tools]
    text = "".join(parts)
    cjk = len(_CJK.findall(text))
    return (len(text) - cjk) // 4 + cjk + 4 * len(messages)


RUN_HINT = " Shorten the request, or give the model a larger window (ERRAND_N_CTX)."
"""What a run's author can do about a request over the window."""


def check_context(prompt: int, completion: int | None, window: int | None, hint: str = "") -> None:
    """`ContextLengthExceeded` (400) with the numbers when the prompt and the completion asked
    for do not fit ``window`` tokens; nothing when the window is not known."""
    total = prompt + (completion or 0)
    if window is None or total <= window:
        return
    asked = f" ({prompt} in the messages, {completion} in the completion)" if completion else ""
    raise ContextLengthExceeded(
        f"This model's maximum context length is {window} tokens. However, you requested about {total} "
        f"tokens{asked}. Please reduce the length of the messages or completion.{hint}"
    )
