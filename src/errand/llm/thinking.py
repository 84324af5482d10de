"""What every backend shares about reasoning models: the switch, the budget, the stop sentence.

Reasoning models (QwQ, Qwen3, DeepSeek-R1) think before they answer, in one of three shapes:
``<think>...</think>`` in the text, the same without the opening tag (their chat template opens
it in the prompt), or a separate ``reasoning_content`` field (vLLM, SGLang, DeepSeek). However it
arrives, thinking becomes `ReasoningDelta` events: shown folded, never part of the answer,
never sent back in a later prompt.

Thinking is bounded by a budget of tokens per model step. Past it, the thinking is closed the
way Qwen's technical report describes its own budget (section 4.3): the stop sentence below and
``</think>`` are written after what the model thought so far, and the model goes on to answer
or call a tool from there. The embedded backend stops generating and continues from its own
prompt; a remote server cannot be steered mid-stream, so its stream is closed and the turn asked
again with the thinking so far, closed, as the start of the assistant's message (see
`errand.llm.openai_compat`).
"""

from __future__ import annotations

from typing import Literal

from errand.llm.types import Usage

Thinking = Literal["auto", "on", "off"]
"""``auto``: as the model does; ``on``: the model thinks; ``off``: ask it not to, where it can."""

STOP_SENTENCE = (
    "Considering the limited time by the user, I have to give the solution based on the "
    "thinking directly now."
)
"""Qwen3's stop-thinking instruction, written as the last of the thinking when its budget is spent."""

STOP_THINKING = f"\n\n{STOP_SENTENCE}\n</think>\n\n"
"""What follows the thinking so far when its budget is spent: the sentence, then the block closed."""

NO_THINK = "/no_think"
"""Qwen3's soft switch: in a system or user message it asks the model not to think."""

CLOSED_THINK = "<think>\n\n</think>\n\n"
"""An empty, closed think block: what Qwen3's template writes for ``enable_thinking: false``."""


class ThinkingMeter:
    """Counts one step's thinking tokens against the budget, one a streamed piece: llama.cpp,
    vLLM, SGLang and Ollama stream one token a chunk (a server's own count, where it gives one,
    replaces this in the step's usage)."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        """Most thinking tokens in one step (None: unbounded)."""
        self.tokens = 0
        """Thinking tokens so far."""

    def add(self) -> None:
        """Count one streamed piece of thinking."""
        self.tokens += 1

    def absorb(self, other: ThinkingMeter) -> None:
        """Count ``other``'s pieces too (held text that turned out to be thinking)."""
        self.tokens += other.tokens

    @property
    def spent(self) -> bool:
        """Whether the budget is used up: time to close the thinking."""
        return self.budget is not None and self.tokens >= self.budget


def after_cut(thinking_tokens: int, answer: Usage) -> Usage:
    """The usage of a step whose thinking was cut at its budget: the thinking (from the first
    request, whose usage never arrived) plus the request that answered. That request read the
    thinking back as prompt; it is counted once, as written."""
    prompt = max(0, answer.prompt_tokens - thinking_tokens)
    return answer.model_copy(
        update={
            "prompt_tokens": prompt,
            "cached_tokens": min(answer.cached_tokens, prompt),
            "completion_tokens": answer.completion_tokens + thinking_tokens,
            "reasoning_tokens": answer.reasoning_tokens + thinking_tokens,
        }
    )
