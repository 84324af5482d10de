"""The OpenAI wire formats errand serves: ``/v1/chat/completions``, ``/v1/models``, and the
subset of ``/v1/responses`` that vLLM serves (text, function tools, streaming).

Requests accept and ignore fields errand does not use (``logprobs``, ``store``...), as lenient
OpenAI-compatible servers do; fields with a range (``temperature``, ``max_tokens``) are checked
and a value out of range is a 400 that names the field and the numbers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

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


# ---- /v1/responses: the subset vLLM serves (text, function tools, streaming) -----------------


class InputText(BaseModel):
    """Text the user (or the system) wrote."""

    type: Literal["input_text"]
    text: PlainText = Field(max_length=MAX_TEXT)


class InputOutputText(BaseModel):
    """Text an earlier response wrote, sent back as part of the conversation."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["output_text"]
    text: PlainText = Field(max_length=MAX_TEXT)


class InputImage(BaseModel):
    """An image: a URL or a ``data:`` URL (files are not stored here, so no ``file_id``)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["input_image"]
    image_url: str | None = Field(default=None, max_length=MAX_TEXT)
    file_id: str | None = Field(default=None, max_length=200)
    detail: str | None = None


InputPart = Annotated[InputText | InputOutputText | InputImage, Field(discriminator="type")]


class InputMessage(BaseModel):
    """A message of the conversation (``type`` may be left out, as the SDK does)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: PlainText | list[InputPart] = Field(max_length=MAX_TEXT)


class FunctionCallInput(BaseModel):
    """A function call an earlier response made (its ``output`` follows as a ``function_call_output``)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=200)
    name: str = Field(max_length=64)
    arguments: str = Field(default="{}", max_length=MAX_TEXT)


class FunctionCallOutput(BaseModel):
    """What the client's function returned for ``call_id``."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=200)
    output: PlainText | list[InputText] = Field(max_length=MAX_TEXT)


class ReasoningInput(BaseModel):
    """An earlier response's reasoning: accepted and left out (reasoning is never sent back)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["reasoning"]


def _item_type(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "message"))
    return str(getattr(value, "type", "message"))


InputItem = Annotated[
    Annotated[InputMessage, Tag("message")]
    | Annotated[FunctionCallInput, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[ReasoningInput, Tag("reasoning")],
    Discriminator(_item_type),
]


class FunctionTool(BaseModel):
    """A function the client offers the model (the Responses API writes it flat, not under ``function``)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["function"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    description: str | None = Field(default=None, max_length=10_000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionToolChoice(BaseModel):
    """``tool_choice`` forcing one function."""

    type: Literal["function"]
    name: str = Field(max_length=64)


class TextFormatJsonSchema(BaseModel):
    """``text.format`` asking for JSON that matches a schema (flat, unlike chat's ``response_format``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["json_schema"]
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = Field(default=None, max_length=10_000)
    strict: bool | None = None


class TextFormatJsonObject(BaseModel):
    """``text.format`` asking for any JSON object."""

    type: Literal["json_object"]


class TextFormatText(BaseModel):
    """``text.format`` asking for text: the default."""

    type: Literal["text"]


TextFormat = Annotated[
    TextFormatJsonSchema | TextFormatJsonObject | TextFormatText, Field(discriminator="type")
]


class TextConfig(BaseModel):
    """How the reply's text is shaped."""

    model_config = ConfigDict(extra="ignore")

    format: TextFormat | None = None


class ResponsesRequest(BaseModel):
    """``POST /v1/responses``: ``model`` is ``errand`` (the agent) or a backend model's name."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200)
    input: (
        Annotated[PlainText, Field(max_length=MAX_TEXT)]
        | Annotated[list[InputItem], Field(min_length=1, max_length=MAX_MESSAGES)]
    )
    """The user's text, or the conversation as items (messages, function calls and their outputs)."""
    instructions: PlainText | None = Field(default=None, max_length=MAX_TEXT)
    """A system message put before ``input``."""
    tools: list[FunctionTool] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    text: TextConfig | None = None
    stream: bool = False
    previous_response_id: str | None = Field(default=None, max_length=200)
    """Refused: no response is stored here, so send the whole conversation in ``input``."""
    background: bool | None = None
    """Refused when true: a response runs while its request is open (use a run for long work)."""
    store: bool | None = None
    """Accepted; nothing is stored."""
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(default=None, max_length=16)
    """Sent back on the response as given."""
    user: str | None = Field(default=None, max_length=256)


class OutputText(BaseModel):
    """Text of the assistant's message."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    logprobs: list[dict[str, Any]] = Field(default_factory=list)


class OutputMessage(BaseModel):
    """The assistant's message."""

    type: Literal["message"] = "message"
    id: str
    role: Literal["assistant"] = "assistant"
    status: Literal["in_progress", "completed", "incomplete"] = "completed"
    content: list[OutputText]


class ReasoningText(BaseModel):
    """The model's reasoning, as it wrote it."""

    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class OutputReasoning(BaseModel):
    """The model's reasoning (a reasoning model's ``<think>`` or ``reasoning_content``)."""

    type: Literal["reasoning"] = "reasoning"
    id: str
    summary: list[dict[str, Any]] = Field(default_factory=list)
    content: list[ReasoningText]
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


class OutputFunctionCall(BaseModel):
    """A call of one of the client's functions: run it and send its ``function_call_output``."""

    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    """The arguments as a JSON string."""
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


OutputItem = Annotated[OutputMessage | OutputReasoning | OutputFunctionCall, Field(discriminator="type")]


class InputTokensDetails(BaseModel):
    """What the prompt's tokens were."""

    cached_tokens: int = 0
    """Read from the backend's prompt cache rather than computed again."""


class OutputTokensDetails(BaseModel):
    """What the reply's tokens were."""

    reasoning_tokens: int = 0
    """Not counted apart from the rest of the reply here: always 0."""


class ResponseUsage(BaseModel):
    """Tokens of the response."""

    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class IncompleteDetails(BaseModel):
    """Why a response stopped before its end."""

    reason: Literal["max_output_tokens"]


class ResponseError(BaseModel):
    """Why a streamed response failed."""

    code: str
    message: str


class ResponseObject(BaseModel):
    """A response of ``POST /v1/responses`` (whole, or in ``response.created``/``.completed``)."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    model: str
    output: list[OutputItem]
    instructions: str | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoice = "auto"
    tools: list[FunctionTool] = Field(default_factory=list)
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    truncation: Literal["disabled"] = "disabled"
    previous_response_id: None = None
    store: Literal[False] = False
    """Nothing is stored: a response cannot be read again or continued by its id."""
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    usage: ResponseUsage | None = None
