"""The embedded backend: llama.cpp in process, through xllamacpp.

``xllamacpp.Server`` runs llama.cpp's own HTTP server inside this process (on a
loopback port, behind a random API key) and also exposes its handlers as
Python calls. errand uses both halves, and writes neither a chat template nor
a sampler of its own:

- the prompt is rendered by the model's own chat template through
  ``POST /apply-template`` (tools, tool calls and tool results included), so
  the history is rendered exactly as the model was trained to read it, and
  prefix-stably, which keeps llama.cpp's prompt cache warm;
- the completion runs in process through ``Server.handle_completions`` (the
  ``/v1/completions`` handler, streaming, with ``cache_prompt``), constrained
  by an llguidance grammar that allows either ``<tool_call>`` blocks whose
  JSON matches one offered tool, or a plain-text answer.

llama.cpp's own tool-call path (``/v1/chat/completions`` with ``tools``) is not
used: the bundled Qwen Coder models write calls it does not recognise, and it
refuses a grammar next to ``tools``. The raw text goes through errand's
`StreamParser` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import os
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from errand.errors import ConfigError, ModelFileError, ModelResponseError
from errand.llm.base import ChatModel
from errand.llm.decision import (
    NO_CALL_THRESHOLD,
    OPEN,
    TOP_TOKENS,
    Decision,
    decision_grammar,
    decision_messages,
    decision_tokens,
    no_call_probability,
    read_decision,
    top_logprobs,
    wants_decision,
)
from errand.llm.grammar import JSON_STYLE, ThinkMode, planned_call_grammar, text_grammar, tool_call_grammar
from errand.llm.llamacpp import chunk_usage, completion_chunks, error_message, physical_cores, stop_reason
from errand.llm.parsing import THINK_OPEN, StreamParser
from errand.llm.thinking import CLOSED_THINK, STOP_SENTENCE, STOP_THINKING, Thinking, ThinkingMeter, after_cut
from errand.llm.types import (
    Finish,
    ImagePart,
    Message,
    ModelEvent,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    ToolCallEvent,
    ToolSpec,
    Usage,
    UsageEvent,
)
from errand.llm.weights import DEFAULT_MODEL, ProgressCallback, ensure_model

StatusCallback = Callable[[str], None]
"""Called with a short line ("loading qwen2.5-coder-1.5b", "ready") while the model loads."""

_PLACEHOLDER = "\x00errand-user-turn\x00"
"""Stands in for the first user message when finding where the stable prefix ends."""
_XLLAMACPP = importlib.metadata.version("xllamacpp")
"""Part of a saved prefix's key: a KV cache file belongs to one runtime version."""


class EmbeddedModel(ChatModel):
    """A GGUF model run in this process by llama.cpp (through xllamacpp).

    Loading is lazy (first `stream`) or explicit (`load`, e.g. under a spinner)
    and thread-safe. Generation runs in a worker thread; the async stream never
    blocks the event loop, and stopping iteration stops generation at the next
    token.
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        bundled: str = DEFAULT_MODEL,
        cache_dir: Path | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_parallel: int = 1,
        cache_ram_mib: int | None = None,
        constrain_tool_calls: bool = True,
        max_calls_per_step: int = 1,
        prefix_cache_dir: Path | None = None,
        progress: ProgressCallback | None = None,
        on_status: StatusCallback | None = None,
        verbosity: int = 0,
        request_timeout_s: float = 120.0,
        thinking: Thinking = "auto",
        max_thinking_tokens: int | None = None,
    ) -> None:
        """Describe the model; nothing is loaded until `load` or the first `stream`.

        ``model_path`` is any GGUF; without it the bundled model ``bundled`` is
        assembled into ``cache_dir`` (``progress`` gets its bytes). ``n_ctx`` is
        the context of each of the ``n_parallel`` slots (conversations served at
        once). ``constrain_tool_calls=False`` sends no grammar (the model writes what it
        likes; errand still parses its calls). A reasoning model's grammar admits its think
        block first; ``thinking`` and ``max_thinking_tokens`` are as in `errand.config.Settings`.
        """
        self.request_timeout_s = request_timeout_s
        """Longest wait for one request to the in-process server (prompt rendering, a saved
        prefix restored on a busy CPU)."""
        self._path = Path(model_path).expanduser() if model_path is not None else None
        self._bundled = bundled
        self._cache_dir = cache_dir or Path.home() / ".cache" / "errand" / "models"
        self.n_ctx = n_ctx
        self.context_window = n_ctx
        self.n_threads = n_threads or physical_cores()
        self.n_parallel = n_parallel
        self.cache_ram_mib = cache_ram_mib
        self.constrain_tool_calls = constrain_tool_calls
        self.max_calls_per_step = max(1, max_calls_per_step)
        """Most ``<tool_call>`` blocks the grammar allows in one turn: small models asked for
        one call tend to append more they were never asked for."""
        self.prefix_cache_dir = prefix_cache_dir
        """Where the KV cache of stable prompt prefixes is saved, so a new process skips
        evaluating the system prompt and tool schemas again (None: not saved)."""
        self._prefix_keys: dict[str, str] = {}
        """System prompt and tool set → key of their saved prefix (rendering it costs an HTTP call)."""
        self._slot_prefix: str | None = None
        """Key of the stable prefix known to be in the slot's KV cache."""
        self.cache_prompt = True
        """Reuse the KV cache of a shared prompt prefix; off only to measure prefill speed."""
        self._progress = progress
        self._on_status = on_status
        self._verbosity = verbosity
        self.name = self._path.stem if self._path is not None else bundled
        self.api_key = secrets.token_urlsafe(24)
        """Bearer key of the loopback HTTP server; other local users cannot call it."""
        self._lock = threading.Lock()
        self._server: Any = None
        self._grammar_cache: tuple[str, str] | None = None
        """The last tool set's key and grammar: agent steps offer the same tools again."""
        self.thinking: Thinking = thinking
        """``auto``: the model thinks if its chat template says so; ``on``: it thinks; ``off``: its
        think block is closed in the prompt."""
        self.max_thinking_tokens = max_thinking_tokens
        """Most tokens of thinking in one turn; past them the thinking is closed (None: unbounded)."""
        self._template_thinks: bool | None = None

    # -- loading -----------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory."""
        return self._server is not None

    @property
    def model_path(self) -> Path | None:
        """The GGUF in use, once known (the bundled one is known after `load`)."""
        return self._path

    def load(self) -> None:
        """Load the weights now (blocking; safe to call from several threads, loads once)."""
        with self._lock:
            if self._server is not None:
                return
            path = self._resolve_path()
            self._status(f"loading {self.name}")
            import xllamacpp  # type: ignore[import-untyped]

            params = xllamacpp.CommonParams()
            params.model.path = str(path)
            params.n_ctx = self.n_ctx * self.n_parallel  # llama.cpp splits it between slots
            params.n_parallel = self.n_parallel
            params.cpuparams.n_threads = self.n_threads
            params.cpuparams_batch.n_threads = self.n_threads
            params.verbosity = self._verbosity
            params.api_keys = [self.api_key]
            if self.prefix_cache_dir is not None:
                self.prefix_cache_dir.mkdir(parents=True, exist_ok=True)
                params.slot_save_path = str(self.prefix_cache_dir) + os.sep  # llama.cpp appends the name
            if self.cache_ram_mib is not None:
                params.cache_ram_mib = self.cache_ram_mib
            try:
                server = xllamacpp.Server(params)
            except RuntimeError:
                # xllamacpp says only "Failed to init server"; the file passed our own checks.
                raise ModelFileError(
                    f"llama.cpp could not load {path}: the file is truncated or corrupt, its model "
                    "architecture is not supported by this llama.cpp build, or there is not enough "
                    f"memory for a {self.n_ctx}-token context (ERRAND_N_CTX). Point ERRAND_MODEL_PATH "
                    "at another GGUF, or unset it to use the bundled model."
                ) from None
            self._server = server
            self._status("ready")

    def _resolve_path(self) -> Path:
        if self._path is None:
            self._status(f"preparing the bundled model {self._bundled}")
            self._path = ensure_model(self._bundled, self._cache_dir, self._progress)
            return self._path
        path = self._path
        if not path.is_file():
            raise ModelFileError(
                f"The model file {path} does not exist. Fix ERRAND_MODEL_PATH "
                "(or unset it to use the bundled model)."
            )
        try:
            with path.open("rb") as f:
                magic = f.read(4)
        except OSError as exc:
            raise ModelFileError(f"Cannot read the model file {path}: {exc.strerror}.") from None
        if magic != b"GGUF":
            raise ModelFileError(f"{path} is not a GGUF model file. Point ERRAND_MODEL_PATH at a .gguf file.")
        return path

    def _status(self, line: str) -> None:
        if self._on_status is not None:
            self._on_status(line)

    @property
    def server(self) -> Any:
        """The loaded ``xllamacpp.Server`` (loads if needed), for direct handler calls."""
        self.load()
        return self._server

    @property
    def listening_address(self) -> str:
        """Base URL of llama.cpp's HTTP server on loopback (loads the model if needed).

        Requests need ``Authorization: Bearer <api_key>``; its OpenAI API is at ``/v1``.
        """
        self.load()
        return str(self._server.listening_address)

    def close(self) -> None:
        """Stop the server and free the weights (blocking)."""
        with self._lock:
            server, self._server = self._server, None
        del server  # xllamacpp's destructor stops the server loop and joins its thread

    async def aclose(self) -> None:
        """Stop the server and free the weights without blocking the event loop."""
        await asyncio.to_thread(self.close)

    # -- prompt ------------------------------------------------------------

    def render_prompt(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> str:
        """The exact prompt text the model sees, rendered by its own chat template.

        Blocking (a loopback HTTP call); loads the model if needed.
        """
        body: dict[str, Any] = {"messages": [self._message_dict(m) for m in messages]}
        if tools:
            body["tools"] = [t.to_openai() for t in tools]
        status, text = self._post("/apply-template", body)
        if status != 200:
            raise ModelResponseError(
                f"The model's chat template refused the conversation (HTTP {status}): {error_message(text)}"
            )
        prompt = json.loads(text).get("prompt")
        if not isinstance(prompt, str):
            raise ModelResponseError("The embedded model server rendered no prompt.")
        return prompt

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, str]:
        """POST JSON to the loopback llama.cpp server; (status, body text)."""
        request = urllib.request.Request(
            self.listening_address + path,
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout_s) as res:
                return int(res.status), res.read().decode()
        except urllib.error.HTTPError as exc:
            with contextlib.closing(exc):
                return exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            raise ModelResponseError(f"The embedded model server did not answer {path}: {exc}") from None

    def _message_dict(self, message: Message) -> dict[str, Any]:
        if isinstance(message.content, list) and any(isinstance(p, ImagePart) for p in message.content):
            raise ConfigError(
                f"Images are not supported by {type(self).__name__} ({self.name} reads text only): "
                "use a multimodal model through ERRAND_MODEL_URL."
            )
        return message.to_openai()

    def grammar_for(
        self,
        tools: Sequence[ToolSpec],
        *,
        required: bool = False,
        max_calls: int | None = None,
        think: ThinkMode = "none",
    ) -> str | None:
        """The grammar sent with a request offering ``tools`` (None: unconstrained); at most
        ``max_calls`` calls (None: ``max_calls_per_step``, the agent's own steps)."""
        if not tools or not self.constrain_tool_calls:
            return None
        calls = max_calls or self.max_calls_per_step
        key = json.dumps([t.model_dump() for t in tools], sort_keys=True) + f"{required}:{calls}:{think}"
        cached = self._grammar_cache
        if cached is None or cached[0] != key:
            grammar = tool_call_grammar(tools, required=required, max_calls=calls, think=think)
            cached = self._grammar_cache = (key, grammar)
        return cached[1]

    # -- thinking ------------------------------------------------------------

    def chat_template(self) -> str:
        """The model's own chat template, as llama.cpp read it from the GGUF ('' if it says none).

        Blocking (a loopback HTTP call); loads the model if needed."""
        request = urllib.request.Request(
            self.listening_address + "/props", headers={"Authorization": f"Bearer {self.api_key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout_s) as res:
                template = json.loads(res.read().decode()).get("chat_template")
        except (OSError, ValueError):
            return ""
        return template if isinstance(template, str) else ""

    def model_thinks(self) -> bool:
        """Whether the model thinks before it answers: ``thinking`` ``on`` says so; otherwise its
        chat template does, by writing ``<think>`` (QwQ, Qwen3, DeepSeek-R1 distills). Read once."""
        if self.thinking == "on":
            return True
        if self._template_thinks is None:
            self._template_thinks = "<think>" in self.chat_template()
        return self._template_thinks

    def shape_prompt(self, prompt: str, *, structured: bool = False) -> tuple[str, ThinkMode]:
        """The prompt to complete, and where a think block may stand in its output.

        With ``thinking`` off, or for a reply held to a schema, a thinking model's block is
        closed empty at the end of the prompt (what Qwen3's template writes for
        ``enable_thinking: false``); otherwise the output starts inside the block where the
        template opened it, and may open one where it did not."""
        if not self.model_thinks():
            return prompt, "none"
        tail = prompt.rstrip()
        opened = tail.endswith(THINK_OPEN)
        if self.thinking == "off" or structured:
            return (tail[: -len(THINK_OPEN)] if opened else prompt) + CLOSED_THINK, "none"
        return prompt, "open" if opened else "optional"

    def completion_request(
        self,
        prompt: str,
        tools: Sequence[ToolSpec],
        settings: ModelSettings,
        *,
        think: ThinkMode = "none",
        plan: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The body errand sends to llama.cpp's completion handler for one turn; ``think`` says
        where a think block may stand (from `shape_prompt`). A turn that may think may write
        its thinking's budget on top of the answer's. ``plan``: the calls decided for this turn
        (`decide`), which the turn then makes exactly ([]: a text answer)."""
        thinking = (self.max_thinking_tokens or 0) if think != "none" else 0
        body: dict[str, Any] = {
            "prompt": prompt,
            "stream": True,
            "n_predict": settings.max_tokens + thinking,
            "temperature": settings.temperature,
            "cache_prompt": self.cache_prompt,
        }
        if settings.seed is not None:
            body["seed"] = settings.seed
        if settings.stop:
            body["stop"] = list(settings.stop)
        if settings.top_p is not None:
            body["top_p"] = settings.top_p
        if settings.response_format is not None:
            # The same grammar engine and JSON style as tool calls; the reply ends with the object.
            schema = {**settings.response_format, "x-guidance": JSON_STYLE}
            body["grammar"] = (
                f"%llguidance {{}}\nstart: reply\nreply: %json {json.dumps(schema, ensure_ascii=False)}\n"
            )
            return body
        # A tool that needs an id nobody has seen yet stays in the prompt but is not callable.
        callable_tools = [t for t in tools if t.callable]
        if plan is not None and self.constrain_tool_calls:
            body["grammar"] = planned_call_grammar(callable_tools, plan, think=think)
            return body
        required = settings.tool_choice == "required"
        grammar = self.grammar_for(
            callable_tools, required=required, max_calls=settings.max_tool_calls, think=think
        )
        if grammar is None and tools and self.constrain_tool_calls:  # nothing callable: answer
            grammar = text_grammar(think)
        if grammar is not None:
            body["grammar"] = grammar
        return body

    async def decide(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ModelSettings,
        *,
        threshold: float = NO_CALL_THRESHOLD,
    ) -> Decision:
        """The calls this turn needs, decided by the model in a short generation of its own (see
        `errand.llm.decision`). The answer is started as `OPEN` in the prompt; one token is
        generated there for its probabilities, and at a `no_call_probability` of ``threshold``
        or more the turn makes no call. Otherwise the answer goes on under a grammar with at
        least one call (any number, none included, when the probability could not be read)."""
        calls = settings.max_tool_calls or self.max_calls_per_step
        rendered = await asyncio.to_thread(self.render_prompt, decision_messages(messages, tools), tools)
        prompt, _ = await asyncio.to_thread(self.shape_prompt, rendered, structured=True)
        prompt += OPEN
        body: dict[str, Any] = {
            "prompt": prompt,
            "stream": True,
            "n_predict": 1,
            "n_probs": TOP_TOKENS,
            "temperature": settings.temperature,
            "cache_prompt": self.cache_prompt,
        }
        if settings.seed is not None:
            body["seed"] = settings.seed
        top: list[tuple[str, float]] = []
        final: dict[str, Any] = {}
        async with contextlib.aclosing(self._generate(body)) as chunks:
            async for _, item in chunks:
                top = top or top_logprobs(item)
                if "timings" in item or "usage" in item:
                    final = item
        usage = chunk_usage(final)
        p_none = no_call_probability(top)
        if p_none is not None and p_none >= threshold:
            return Decision([], p_none, usage)
        body = {
            **body,
            "n_predict": decision_tokens(calls),
            "grammar": decision_grammar(tools, calls, empty=p_none is None),
        }
        del body["n_probs"]
        written: list[str] = []
        final = {}
        async with contextlib.aclosing(self._generate(body)) as chunks:
            async for text, item in chunks:
                written.append(text)
                if "timings" in item or "usage" in item:
                    final = item
        return Decision(read_decision(OPEN + "".join(written), tools), p_none, usage + chunk_usage(final))

    # -- prefix cache on disk ------------------------------------------------

    def _stable_prefix(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> str:
        """The rendered system prompt and tool schemas, up to where the first user turn's text starts."""
        first = messages[0] if messages and messages[0].role == "system" else None
        probe = [first] if first is not None else []
        rendered = self.render_prompt([*probe, Message(role="user", content=_PLACEHOLDER)], tools)
        return rendered[: rendered.find(_PLACEHOLDER)]

    def _restore_prefix(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> None:
        """Put the KV cache of the stable prefix into the slot: from disk if saved, else
        evaluate it once and save it. A new process then starts its first step with the
        system prompt and tool schemas already evaluated (one 44 MB file per tool set)."""
        if self.prefix_cache_dir is None or self.n_parallel != 1 or not self.cache_prompt:
            return
        system = messages[0].text if messages and messages[0].role == "system" else ""
        # What the prompt shows of the tools (not this step's decode constraints): the prefix.
        asked = system + "\0" + json.dumps([t.to_openai() for t in tools], sort_keys=True)
        key = self._prefix_keys.get(asked)
        prefix: str | None = None
        if key is None:  # once per system prompt and tool set, not every step
            prefix = self._stable_prefix(messages, tools)
            path = self.model_path
            stat = path.stat() if path is not None else None
            identity = f"{path}:{stat.st_size if stat else 0}:{stat.st_mtime_ns if stat else 0}:{_XLLAMACPP}"
            key = self._prefix_keys[asked] = hashlib.sha256((identity + "\0" + prefix).encode()).hexdigest()[
                :20
            ]
        if key == self._slot_prefix:
            return  # already in the slot: the prompt cache reuses it
        name = f"prefix-{key}.bin"
        target = self.prefix_cache_dir / name
        if target.is_file():
            status, _ = self._post("/slots/0?action=restore", {"filename": name})
            if status == 200:
                self._slot_prefix = key
                return
            target.unlink(missing_ok=True)  # unreadable (another version, a torn write): rebuild
        if prefix is None:  # seen before, but its file has since been pruned: render it again
            prefix = self._stable_prefix(messages, tools)
        status, _ = self._post("/completion", {"prompt": prefix, "n_predict": 0, "cache_prompt": True})
        if status != 200:
            return
        temp = f"prefix-{key}.{os.getpid()}.tmp"
        status, _ = self._post("/slots/0?action=save", {"filename": temp})
        if status == 200:
            os.replace(self.prefix_cache_dir / temp, target)
            self._prune_prefixes()
        self._slot_prefix = key

    def _prune_prefixes(self, keep: int = 8) -> None:
        """Keep the most recently written prefix files; each is tens of megabytes."""
        assert self.prefix_cache_dir is not None
        files = sorted(
            self.prefix_cache_dir.glob("prefix-*.bin"), key=lambda f: f.stat().st_mtime, reverse=True
        )
        for old in files[keep:]:
            old.unlink(missing_ok=True)

    # -- generation --------------------------------------------------------

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        """Stream one turn: thinking and text as they are generated, then tool calls, usage and
        `Finish`. Thinking past ``max_thinking_tokens`` is stopped, closed with Qwen's stop
        sentence and ``</think>``, and the answer generated from there (the prompt cache keeps
        what was already evaluated)."""
        await asyncio.to_thread(self.load)
        rendered = await asyncio.to_thread(self.render_prompt, messages, tools)
        structured = settings.response_format is not None
        prompt, think = await asyncio.to_thread(self.shape_prompt, rendered, structured=structured)
        await asyncio.to_thread(self._restore_prefix, messages, tools)
        plan, decided = None, Usage()
        if self.constrain_tool_calls and wants_decision(tools, settings):
            decision = await self.decide(messages, tools, settings)
            plan, decided = decision.calls, decision.usage
        body = self.completion_request(prompt, tools, settings, think=think, plan=plan)
        # A structured reply (JSON by schema) is text, not a tool call to look for.
        parser = None if structured else StreamParser(in_thinking=think == "open")
        meter = ThinkingMeter(self.max_thinking_tokens)
        written: list[str] = []
        finish_reason: str | None = None
        final: dict[str, Any] = {}
        cut = False
        async with contextlib.aclosing(self._generate(body)) as chunks:
            async for text, item in chunks:
                if parser is None:
                    if text:
                        yield TextDelta(text=text)
                else:
                    if parser.thinking:
                        meter.add()
                    written.append(text)
                    for ev in parser.feed(text):
                        yield ev
                    if parser.thinking and meter.spent:
                        cut = True
                        break
                finish_reason = stop_reason(item) or finish_reason
                if "timings" in item or "usage" in item:
                    final = item
        usage = chunk_usage(final)
        if cut and parser is not None:
            for ev in parser.close_thinking():
                yield ev
            yield ReasoningDelta(text=f"\n\n{STOP_SENTENCE}")
            body = self.completion_request(
                prompt + "".join(written) + STOP_THINKING, tools, settings, plan=plan
            )
            final, finish_reason = {}, None
            async with contextlib.aclosing(self._generate(body)) as chunks:
                async for text, item in chunks:
                    for ev in parser.feed(text):
                        yield ev
                    finish_reason = stop_reason(item) or finish_reason
                    if "timings" in item or "usage" in item:
                        final = item
            usage = after_cut(meter.tokens, chunk_usage(final))
        else:
            usage.reasoning_tokens = meter.tokens
        usage += decided
        called = False
        for ev in parser.finish() if parser is not None else []:
            called = called or isinstance(ev, ToolCallEvent)
            yield ev
        yield UsageEvent(usage=usage)
        if called:
            yield Finish(reason="tool_calls")
        else:
            yield Finish(reason="length" if finish_reason == "length" else "stop")

    async def _generate(self, body: dict[str, Any]) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        """Run one completion in a worker thread: (text, chunk) as llama.cpp streams them, one
        token a chunk. Closing this generator stops the generation at its next token."""
        server = self._server
        if server is None:
            raise ModelResponseError("The embedded model was closed while a request was starting.")
        async with contextlib.aclosing(completion_chunks(server, body)) as chunks:
            async for piece in chunks:
                yield piece
