"""Language models behind one interface: `ChatModel.stream` yields typed events.

Backends: `EmbeddedModel` (llama.cpp in process, the bundled GGUF by default),
`OpenAICompatModel` (any OpenAI-compatible server) and `ScriptedModel` (replays
a script; the test double). `make_model` picks one from `Settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from errand.config import Settings
from errand.errors import ConfigError
from errand.llm.base import ChatModel, collect
from errand.llm.scripted import ScriptedModel
from errand.llm.types import (
    Finish,
    ImagePart,
    MalformedToolCall,
    Message,
    ModelEvent,
    ModelResponse,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
    UsageEvent,
)
from errand.llm.weights import ProgressCallback

if TYPE_CHECKING:
    from errand.llm.embedded import EmbeddedModel
    from errand.llm.openai_compat import OpenAICompatModel

__all__ = [
    "ChatModel",
    "EmbeddedModel",
    "Finish",
    "ImagePart",
    "MalformedToolCall",
    "Message",
    "ModelEvent",
    "ModelResponse",
    "ModelSettings",
    "OpenAICompatModel",
    "ReasoningDelta",
    "ScriptedModel",
    "TextDelta",
    "TextPart",
    "ToolCall",
    "ToolCallEvent",
    "ToolSpec",
    "Usage",
    "UsageEvent",
    "collect",
    "make_model",
]


_LAZY = {
    "EmbeddedModel": "errand.llm.embedded",
    "OpenAICompatModel": "errand.llm.openai_compat",
}


def __getattr__(name: str) -> Any:
    """Import the heavier backends on first use (``openai`` alone takes ~0.4 s to import)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_model(settings: Settings, *, progress: ProgressCallback | None = None) -> ChatModel:
    """The model backend the settings ask for; nothing is loaded or contacted yet.

    ``model_backend`` wins when set; otherwise a ``model_url`` means the
    OpenAI-compatible backend, and no URL means the embedded model (the GGUF at
    ``model_path``, or the bundled one). ``progress`` receives
    ``(done_bytes, total_bytes)`` while the bundled model is assembled.
    """
    backend = settings.resolved_model_backend()
    if backend == "openai":
        if not settings.model_url:
            raise ConfigError(
                "The openai backend needs a server: set ERRAND_MODEL_URL "
                "(e.g. http://127.0.0.1:8000/v1), or unset ERRAND_MODEL_BACKEND to run the embedded model."
            )
        if settings.model_path is not None and settings.model_backend == "openai":
            raise ConfigError(
                "ERRAND_MODEL_PATH names a local GGUF but ERRAND_MODEL_BACKEND is openai: unset one of them."
            )
        from errand.llm.openai_compat import OpenAICompatModel

        remote = OpenAICompatModel(
            settings.model_url,
            settings.model,
            api_key=settings.api_key,
            timeout=settings.request_timeout_s,
            thinking=settings.thinking,
            max_thinking_tokens=settings.max_thinking_tokens,
        )
        remote.context_window = settings.resolved_context_window()
        return remote
    if backend == "embedded":
        if settings.model_url and settings.model_backend == "embedded":
            raise ConfigError(
                "ERRAND_MODEL_URL is set but ERRAND_MODEL_BACKEND is embedded: unset one of them."
            )
        from errand.llm.embedded import EmbeddedModel

        return EmbeddedModel(
            settings.model_path,
            bundled=settings.bundled_model,
            cache_dir=settings.resolved_model_cache_dir(),
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            max_calls_per_step=settings.max_calls_per_step,
            request_timeout_s=max(settings.request_timeout_s, settings.max_wall_s),
            prefix_cache_dir=settings.resolved_model_cache_dir() / "prefix-cache"
            if settings.prefix_cache
            else None,
            progress=progress,
            thinking=settings.thinking,
            max_thinking_tokens=settings.max_thinking_tokens,
        )
    if backend == "scripted":
        if settings.script_path is None:
            raise ConfigError("The scripted backend needs ERRAND_SCRIPT_PATH: a JSON file of turns.")
        scripted = ScriptedModel.from_file(settings.script_path, token_delay_s=settings.script_token_delay_s)
        scripted.max_thinking_tokens = settings.max_thinking_tokens
        return scripted
    raise ConfigError(f"Unknown model backend {backend!r}: choose embedded, openai or scripted.")
