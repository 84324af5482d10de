"""One settings object for all of errand.

Every knob has a default, a docstring and an ``ERRAND_*`` environment variable;
CLI flags override the environment.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "errand"


class ModelPrice(BaseModel):
    """What a model's tokens cost, per million, in ``Settings.price_currency``."""

    input: float = Field(default=0.0, ge=0)
    """Prompt tokens evaluated (not read from the prompt cache)."""
    cached_input: float | None = Field(default=None, ge=0)
    """Prompt tokens read from the prompt cache; None: the ``input`` price."""
    output: float = Field(default=0.0, ge=0)
    """Tokens the model wrote."""


FREE = ModelPrice()
"""A model that runs on this machine: its tokens cost nothing but the electricity."""

BUNDLED_PRICES = {"qwen2.5-coder-1.5b": FREE, "qwen2.5-coder-0.5b": FREE, "scripted": FREE}
"""The bundled models and the test double, free; `Settings.prices` adds the rest."""


class Settings(BaseSettings):
    """errand's configuration, read from ``ERRAND_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ERRAND_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    """Folder for errand's data: the database, charts and the assembled model."""

    model_backend: Literal["embedded", "openai", "scripted"] | None = None
    """Which model backend to use; by default ``openai`` when ``model_url`` is set, else embedded."""

    model_path: Path | None = None
    """A GGUF file to run in process instead of the bundled model."""

    model_cache_dir: Path | None = None
    """Where the bundled model is assembled; defaults to ``~/.cache/errand/models``."""

    bundled_model: Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"] = "qwen2.5-coder-1.5b"
    """Which bundled model to run when ``model_path`` is not set."""

    model_url: str | None = None
    """Base URL of an OpenAI-compatible server, e.g. ``http://127.0.0.1:8080/v1``."""

    model: str = "default"
    """Model name sent to the OpenAI-compatible server."""

    api_key: str | None = None
    """API key for the OpenAI-compatible server (any string for servers without auth)."""

    script_path: Path | None = None
    """For the ``scripted`` backend: a JSON file of turns (see `ScriptedModel.from_file`)."""
    script_token_delay_s: float = 0.0
    """For the ``scripted`` backend: seconds per streamed token, to pace it like a real model."""

    n_ctx: int = 8192
    """Context window of the embedded model, in tokens."""

    n_threads: int | None = None
    """CPU threads for the embedded model; defaults to the number of physical cores."""

    prefix_cache: bool = True
    """Save the embedded model's KV cache of the system prompt and tool schemas to disk, so a
    new process does not evaluate them again (tens of MB per tool set, under the model cache)."""

    max_calls_per_step: int = 1
    """Most tool calls the embedded model may write in one step; small models do best with one."""

    temperature: float = 0.0
    """Sampling temperature; 0 makes runs repeatable."""

    max_output_tokens: int = 768
    """Most tokens the model may write in one step, not counting its thinking."""

    thinking: Literal["auto", "on", "off"] = "auto"
    """Whether a reasoning model thinks before it answers. ``auto``: as the model does (the
    embedded model if its chat template writes ``<think>``); ``on``: it thinks (the embedded
    grammar admits a think block whatever the template says; a server is sent
    ``chat_template_kwargs: {"enable_thinking": true}``); ``off``: ask it not to where it can (the
    embedded model's think block is closed empty in its prompt; a server is sent
    ``enable_thinking: false`` and Qwen3's ``/no_think`` in the system message)."""

    max_thinking_tokens: int = Field(default=1024, ge=1)
    """Most tokens a reasoning model may think in one step. Past them its thinking is closed and
    it answers or calls a tool from what it thought so far (Qwen's thinking budget); a step may
    write this many on top of ``max_output_tokens``."""

    request_timeout_s: float = 120.0
    """Seconds to wait for a model server's answer before giving up. The embedded model waits
    at least ``max_wall_s``: on a slow CPU, evaluating the tool schemas the first time takes
    minutes, and the run's own budget is what bounds it."""

    max_steps: int = Field(default=8, ge=1, le=1000)
    """Most model steps in one run."""

    max_tokens: int = 60_000
    """Most prompt plus completion tokens in one run."""

    max_wall_s: float = 300.0
    """Most seconds one run may take."""

    auto_approve_below: str | None = None
    """Approve payments under this amount without asking, e.g. ``50 CNY`` (off by default)."""

    database_url: str | None = None
    """SQLAlchemy URL of the services database; defaults to a SQLite file under ``home``."""

    model_accepts_images: bool = False
    """The model reads image parts (a vision model behind ERRAND_MODEL_URL); without it the
    text of an attached image is read by OCR on this machine and appended to the request."""

    ocr_fetch_urls: bool = False
    """Fetch an attached http(s) image to read its text by OCR (off: only images sent as data
    URLs are read, and the request says an http(s) image was not read)."""

    # -- traces and cost (src/errand/telemetry/) ---------------------------

    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """Price per million tokens of each model by name (as runs report it: ``ERRAND_MODEL`` for a
    server), as JSON: ``{"gpt-4o": {"input": 2.5, "cached_input": 1.25, "output": 10}}``. The
    bundled models cost nothing; a model on a server with no price here has no cost (unknown)."""

    price_currency: str = "USD"
    """The currency of ``prices`` and of every cost errand reports."""

    trace_content: bool = False
    """Put the request, the answer, and tool arguments and results on trace spans (off: spans
    carry ids, names, timings and token counts, never what people wrote)."""

    trace_dbos: bool = False
    """Also trace DBOS's own workflow and step spans, inside each run's trace (when tracing is on:
    ``OTEL_EXPORTER_OTLP_*`` set, or a host application installed an OpenTelemetry SDK)."""

    # -- durable runs (src/errand/runs/) -----------------------------------

    confirmation_expiry_s: float = 86_400.0
    """How long a run waits for a person to approve a payment before it ends cancelled."""

    worker_concurrency: int = 4
    """Most runs one process executes at once (``errand worker``, ``errand serve``)."""

    worker_id: str = "local"
    """This executor's name: after a crash, the process with the same name resumes its runs."""

    # -- errand serve (src/errand/server/) ---------------------------------

    redis_url: str | None = None
    """Redis for limits shared by several ``errand serve`` replicas (``redis://127.0.0.1:6379/0``);
    without it each server process keeps its limits in memory."""

    serve_host: str = "127.0.0.1"
    """Address ``errand serve`` listens on."""

    serve_port: int = 8000
    """Port ``errand serve`` listens on."""

    serve_workers: int = 1
    """Server processes sharing the port (each loads its own model)."""

    serve_max_running: int = 4
    """Requests that may use the model at once in one server process; more wait in a short queue."""

    serve_max_queued: int = 16
    """Most requests waiting for the model in one server process; beyond that the answer is 503."""

    serve_max_queue_wait_s: float = 2.0
    """Longest a request may wait for the model; one expected to wait longer is refused at once (503)."""

    serve_max_active_runs: int = 64
    """Most runs created through one server process that may be queued or running at once (503 beyond)."""

    serve_default_rpm: int = 60
    """Requests per minute of an API key created without ``--rpm``."""

    serve_default_max_runs: int = 4
    """Runs and chat completions an API key may have in flight at once, without ``--max-runs``."""

    serve_context_window: int | None = None
    """The served model's context window in tokens, checked before calling it; defaults to ``n_ctx``."""

    serve_ping_s: float = 10.0
    """Seconds between comment pings on a quiet stream, so proxies keep it open."""

    serve_shutdown_timeout_s: float = 30.0
    """On SIGTERM, seconds in-flight requests get to finish before they are cut."""

    serve_docs: bool = False
    """Serve the interactive API pages ``/docs`` and ``/redoc``. Off by default: they load their
    scripts from a public CDN, which a self-hosted server should not make its users' browsers
    fetch. ``/openapi.json`` is always served."""

    serve_drain_s: float = 0.0
    """On SIGTERM, seconds to keep answering 503 (``/readyz`` too) before closing the port, so a
    load balancer stops sending traffic first."""

    mcp_token: str | None = None
    """Bearer token every client of ``errand mcp serve --http`` must send (required with --http)."""

    serve_max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Largest request body accepted (413 beyond it), checked before the body is read: four
    50 MB bodies at once must not take the server's memory."""

    serve_key_cache_s: float = 5.0
    """Seconds each server process caches an API key lookup (and its budget use)."""

    idempotency_ttl_s: float = 86_400.0
    """How long a response is replayed for its ``Idempotency-Key`` (Stripe keeps keys 24 hours)."""

    @field_validator("auto_approve_below")
    @classmethod
    def _amount(cls, value: str | None) -> str | None:
        if value:
            parse_amount(value)
        return value

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of ``model``'s tokens: ``prices``, else free for a bundled model or any model
        run in process (a GGUF file), else None (a server's model nobody priced)."""
        if model in self.prices:
            return self.prices[model]
        if model in BUNDLED_PRICES or self.resolved_model_backend() != "openai":
            return FREE
        return None

    def resolved_context_window(self) -> int | None:
        """The model's context window in tokens where known: ``ERRAND_SERVE_CONTEXT_WINDOW``, else
        ``n_ctx`` for the embedded model (a remote server's window is its own to check)."""
        if self.serve_context_window:
            return self.serve_context_window
        return self.n_ctx if self.resolved_model_backend() == "embedded" else None

    def resolved_model_backend(self) -> Literal["embedded", "openai", "scripted"]:
        """The backend in use: the one named, else ``openai`` when a server URL is set, else embedded."""
        return self.model_backend or ("openai" if self.model_url else "embedded")

    def resolved_database_url(self) -> str:
        """The database URL to use, defaulting to SQLite under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'errand.db'}"

    def resolved_model_cache_dir(self) -> Path:
        """The folder the bundled model is assembled into."""
        return self.model_cache_dir or Path.home() / ".cache" / "errand" / "models"

    def charts_dir(self) -> Path:
        """The folder charts are saved into."""
        return self.home / "charts"


def parse_amount(text: str) -> tuple[int, str]:
    """``"50 CNY"`` or ``"12.5 SGD"`` as (minor units, currency)."""
    parts = text.split()
    if len(parts) != 2 or len(parts[1]) != 3 or not parts[1].isalpha():
        raise ValueError(f"{text!r} is not an amount like '50 CNY'")
    try:
        value = Decimal(parts[0])
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount like '50 CNY'") from None
    if not value.is_finite() or value <= 0 or value >= 10**12:
        raise ValueError(f"{text!r} is not an amount like '50 CNY' (a positive, finite number)")
    return int(value * 100), parts[1].upper()
