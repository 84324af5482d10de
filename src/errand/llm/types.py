"""Messages, tool calls and the events a model backend streams.

OpenAI's chat format is the lingua franca: a `Message` converts to and from an
OpenAI message dict without loss.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]


class TextPart(BaseModel):
    """A piece of text inside a message."""

    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An image inside a message, as a URL or a ``data:`` URL."""

    type: Literal["image_url"] = "image_url"
    url: str


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ToolCall(BaseModel):
    """One call of a tool by the model."""

    id: str
    """Identifier pairing the call with its result message."""
    name: str
    """Name of the tool to call."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Arguments as parsed JSON (validated against the schema when the tool runs)."""

    def to_openai(self) -> dict[str, Any]:
        """This call in OpenAI's ``tool_calls`` format."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)},
        }


class Message(BaseModel):
    """One message of a conversation."""

    role: Role
    content: str | list[ContentPart] | None = None
    """Text, or a list of text and image parts."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Tool calls made by an assistant message."""
    tool_call_id: str | None = None
    """For a tool message: the call it answers."""
    name: str | None = None
    """For a tool message: the tool's name."""

    @property
    def text(self) -> str:
        """The message's text parts joined, without images."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    def to_openai(self) -> dict[str, Any]:
        """This message as an OpenAI chat message dict."""
        out: dict[str, Any] = {"role": self.role}
        if isinstance(self.content, list):
            out["content"] = [
                {"type": "text", "text": p.text}
                if isinstance(p, TextPart)
                else {"type": "image_url", "image_url": {"url": p.url}}
                for p in self.content
            ]
        else:
            out["content"] = self.content
        if self.tool_calls:
            out["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_openai(cls, data: dict[str, Any]) -> Message:
        """Build a message from an OpenAI chat message dict."""
        content = data.get("content")
        parts: str | list[ContentPart] | None
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "text":
                    parts.append(TextPart(text=p["text"]))
                elif p.get("type") == "image_url":
                    image = p["image_url"]
                    parts.append(ImagePart(url=image["url"] if isinstance(image, dict) else image))
        else:
            parts = content
        calls = []
        for c in data.get("tool_calls") or []:
            fn = c["function"]
            raw = fn.get("arguments") or "{}"
            calls.append(
                ToolCall(
                    id=c["id"], name=fn["name"], arguments=json.loads(raw) if isinstance(raw, str) else raw
                )
            )
        return cls(
            role=data["role"],
            content=parts,
            tool_calls=calls,
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
        )


class ToolSpec(BaseModel):
    """What a model is told about a tool: its name, description and JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]
    decode_parameters: dict[str, Any] | None = None
    """A stricter schema that a call must match at decode time (``parameters`` with the ids seen
    so far as an ``enum``), for backends that constrain decoding. Never shown in the prompt, so
    the prompt's prefix stays the same from step to step."""
    callable: bool = True
    """False: shown in the prompt, but not callable this step (an id it needs is not known yet)."""

    def to_openai(self) -> dict[str, Any]:
        """This tool in OpenAI's ``tools`` format."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class ModelSettings(BaseModel):
    """Per-request sampling settings."""

    temperature: float = 0.0
    max_tokens: int = 768
    seed: int | None = 0
    tool_choice: Literal["auto", "required"] = "auto"
    """``required``: the turn must call a tool (when tools are offered); ``auto``: call or answer."""
    max_tool_calls: int | None = Field(default=None, ge=1)
    """Most tool calls the turn may make (None: the backend's own default, one step of the agent)."""
    response_format: dict[str, Any] | None = None
    """A JSON schema the whole reply must match (structured output; no tools are offered then)."""
    stop: list[str] | None = None
    """Strings that end the reply where the model writes one (not included); None: none."""
    top_p: float | None = Field(default=None, ge=0, le=1)
    """Nucleus sampling: draw from the likeliest tokens holding this much probability (None: the
    backend's default)."""


class Usage(BaseModel):
    """Token counts of one model call."""

    prompt_tokens: int = 0
    """Tokens in the prompt."""
    completion_tokens: int = 0
    """Tokens the model wrote."""
    cached_tokens: int = 0
    """Prompt tokens reused from the prompt cache (not evaluated again)."""
    prompt_ms: float = 0.0
    """Time spent evaluating the prompt, when the backend reports it."""
    completion_ms: float = 0.0
    """Time spent generating, when the backend reports it."""
    reasoning_tokens: int = 0
    """Of ``completion_tokens``, those the model spent thinking (shown folded, never the answer):
    the server's own count where it gives one, else errand's (one per streamed piece)."""

    @property
    def evaluated_prompt_tokens(self) -> int:
        """Prompt tokens that were actually computed."""
        return self.prompt_tokens - self.cached_tokens

    @property
    def answer_tokens(self) -> int:
        """Tokens the model wrote that were not thinking: the answer or its tool calls."""
        return max(0, self.completion_tokens - self.reasoning_tokens)

    def __add__(self, other: Usage) -> Usage:
        """Field by field: the usage of two calls (or steps) together."""
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})


class TextDelta(BaseModel):
    """A piece of the answer."""

    type: Literal["text_delta"] = "text_delta"
    text: str


class ReasoningDelta(BaseModel):
    """A piece of the model's reasoning; never part of the answer or later prompts."""

    type: Literal["reasoning_delta"] = "reasoning_delta"
    text: str


class ToolCallEvent(BaseModel):
    """A complete tool call."""

    type: Literal["tool_call"] = "tool_call"
    call: ToolCall


class MalformedToolCall(BaseModel):
    """Output that looked like a tool call but could not be used; the model is told why."""

    type: Literal["malformed_tool_call"] = "malformed_tool_call"
    raw: str
    reason: str


class UsageEvent(BaseModel):
    """Token counts of the call, sent once near the end."""

    type: Literal["usage"] = "usage"
    usage: Usage


class Finish(BaseModel):
    """The end of one model call."""

    type: Literal["finish"] = "finish"
    reason: Literal["stop", "length", "tool_calls"] = "stop"


ModelEvent = Annotated[
    TextDelta | ReasoningDelta | ToolCallEvent | MalformedToolCall | UsageEvent | Finish,
    Field(discriminator="type"),
]


class ModelResponse(BaseModel):
    """A whole model turn, collected from its events."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    malformed: list[MalformedToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    finish_reason: Literal["stop", "length", "tool_calls"] = "stop"
