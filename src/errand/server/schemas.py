"""The OpenAI wire format of ``/v1/chat/completions`` and ``/v1/models`` (the part errand serves).

Requests accept and ignore fields errand does not use (``logprobs``, ``store``...), as lenient
OpenAI-compatible servers do; fields with a range (``temperature``, ``max_tokens``) are checked
and a value out of range is a 400 that names the field and the numbers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MAX_MESSAGES = 1_000
MAX_TEXT = 2_000_000


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters (\\u0000); remove them and retry")
    return text


PlainText = Annotated[str, AfterValidator(_no_nul)]
"""Text a user sends: anything but NUL, which no database text column can hold (a NUL in a
run's input answered 500 on PostgreSQL)."""


class FunctionCall(BaseModel):
    """A function call as OpenAI writes it: arguments are a JSON string."""

    name: str = Field(max_length=64)
    arguments: str = Field(default="{}", max_length=MAX_TEXT)


class ChatToolCall(BaseModel):
    """One tool call of an assistant message."""

    id: str = Field(max_length=200)
    type: Literal["function"] = "function"
    function: FunctionCall


class TextContent(BaseModel):
    """A text part of a message."""

    type: Literal["text"]
    text: PlainText = Field(max_length=MAX_TEXT)


class ImageUrl(BaseModel):
    """Where an image is: a URL or a ``data:`` URL."""

    url: str = Field(max_length=MAX_TEXT)
    detail: str | None = None


class ImageContent(BaseModel):
    """An image part of a message."""

    type: Literal["image_url"]
    image_url: ImageUrl


class ChatMessage(BaseModel):
    """One message of the conversation sent by the client."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: PlainText | list[TextContent | ImageContent] | None = Field(default=None, max_length=MAX_TEXT)
    name: str | None = Field(default=None, max_length=64)
    tool_calls: list[ChatToolCall] | None = Field(default=None, max_length=128)
    tool_call_id: str | None = Field(default=None, max_length=200)


class FunctionDef(BaseModel):
    """A function the client offers the model."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    description: str = Field(default="", max_length=10_000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ChatTool(BaseModel):
    """A tool the client offers the model (passed through to a backend model)."""

    type: Literal["function"] = "function"
    function: FunctionDef


class NamedFunction(BaseModel):
    """Which function a forced tool choice names."""

    name: str = Field(max_length=64)


class NamedToolChoice(BaseModel):
    """``tool_choice`` forcing one function."""

    type: Literal["function"] = "function"
    function: NamedFunction


class JsonSchemaFormat(BaseModel):
    """The schema a ``json_schema`` response format asks the reply to match."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    description: str | None = Field(default=None, max_length=10_000)
    schema_: dict[str, Any] = Field(alias="schema")
    """A JSON schema (``schema`` on the wire: the name would shadow a pydantic method)."""
    strict: bool | None = None
    """Accepted; the embedded model always decodes to the schema, a remote server as it can."""


class JsonSchemaResponseFormat(BaseModel):
    """``response_format`` asking for JSON that matches a schema."""

    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


class JsonObjectResponseFormat(BaseModel):
    """``response_format`` asking for any JSON object."""

    type: Literal["json_object"]


class TextResponseFormat(BaseModel):
    """``response_format`` asking for text: the default, so it changes nothing."""

    type: Literal["text"]


ResponseFormat = Annotated[
    JsonSchemaResponseFormat | JsonObjectResponseFormat | TextResponseFormat, Field(discriminator="type")
]

StopString = Annotated[str, Field(min_length=1, max_length=1_000)]
StopList = Annotated[list[StopString], Field(max_length=4)]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Stop = Annotated[StopList, BeforeValidator(_as_list, json_schema_input_type=StopString | StopList)]
"""``stop`` as OpenAI takes it (a string or up to 4), always a list after validation, so an error
names ``stop`` itself rather than a branch of a union."""


class StreamOptions(BaseModel):
    """Options of a streamed answer."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False
    """Send a last chunk with the token usage (and no choices)."""


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: ``model`` is ``errand`` (the agent) or a backend model's name."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ChatTool] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    """Whether one response may call several tools (unset: yes, as OpenAI's default)."""
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    stop: Stop | None = None
    """Up to 4 strings that end the reply where the model writes one (the string is not sent)."""
    response_format: ResponseFormat | None = None
    """Structured output: JSON matching a schema, or any JSON object (not with tools)."""
    n: int = Field(default=1, ge=1, le=1)
    """Only one choice is generated."""
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    user: str | None = Field(default=None, max_length=256)


class ResponseMessage(BaseModel):
    """The assistant's message."""

    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ChatToolCall] | None = None
    reasoning_content: str | None = None
    """The model's reasoning, kept out of ``content`` (as vLLM and DeepSeek send it)."""


class Choice(BaseModel):
    """The one choice of a completion."""

    index: int = 0
    message: ResponseMessage
    finish_reason: Literal["stop", "length", "tool_calls"]
    logprobs: None = None


class PromptTokensDetails(BaseModel):
    """What the prompt's tokens were."""

    cached_tokens: int = 0
    """Prompt tokens read from the backend's prompt cache rather than computed again."""


class CompletionUsage(BaseModel):
    """Tokens of the request."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class ChatCompletion(BaseModel):
    """A whole (non-streamed) answer."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


class ModelCard(BaseModel):
    """A model this server answers to."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
