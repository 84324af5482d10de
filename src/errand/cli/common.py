"""What every ``errand`` subcommand shares: settings from flags and the environment, the
model they name (with progress while it loads), and the terminal's approver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
from rich.prompt import Confirm, Prompt

from errand.agent import Decision
from errand.agent.confirm import Approver, ConfirmationRequest
from errand.cli.console import RunRenderer
from errand.config import Settings
from errand.errors import ConfigError
from errand.llm.base import ChatModel
from errand.llm.ocr import ImageDataError, data_url

console = Console()
err_console = Console(stderr=True)

BUNDLED_ALIASES = {"1.5b": "qwen2.5-coder-1.5b", "0.5b": "qwen2.5-coder-0.5b"}


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with CLI flags (not None) on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"ERRAND_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"Invalid setting: {problems}. Fix the environment variable or flag.") from None


def settings_for_model(model: str | None, **overrides: Any) -> Settings:
    """Settings where ``--model`` picks a GGUF file, a bundled model or a server's model name."""
    if model is None:
        return load_settings(**overrides)
    if model.endswith(".gguf"):
        return load_settings(model_backend="embedded", model_path=Path(model), **overrides)
    name = BUNDLED_ALIASES.get(model, model)
    if name in BUNDLED_ALIASES.values():
        return load_settings(model_backend="embedded", bundled_model=name, model_path=None, **overrides)
    settings = load_settings(model=model, **overrides)
    if not settings.model_url:
        raise ConfigError(
            f"--model {model!r} is not a .gguf file or a bundled model ({', '.join(BUNDLED_ALIASES)}); "
            "to use a model server, set ERRAND_MODEL_URL."
        )
    return settings


def load_model(settings: Settings) -> ChatModel:
    """The model the settings name; shows progress while the bundled model is assembled and loaded."""
    from errand.llm import make_model
    from errand.llm.weights import ensure_model, model_info

    if settings.resolved_model_backend() == "embedded" and settings.model_path is None:
        info = model_info(settings.bundled_model, settings.resolved_model_cache_dir())
        if not info.verified:
            with Progress(
                TextColumn("assembling the bundled model"),
                BarColumn(),
                DownloadColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("assemble", total=None)
                ensure_model(
                    settings.bundled_model,
                    settings.resolved_model_cache_dir(),
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
    model = make_model(settings)
    load = getattr(model, "load", None)
    if callable(load):
        with err_console.status(f"loading {model.name}…", spinner="dots"):
            load()
    return model


def cli_approver(renderer: RunRenderer) -> Approver:
    """Asks at the terminal, showing exactly what will happen."""

    async def ask(request: ConfirmationRequest) -> Decision:
        renderer.pause()

        def prompt() -> Decision:
            ok = Confirm.ask(f"Approve {request.risk} action: {escape(request.summary)}?", default=False)
            note = "" if ok else Prompt.ask("Why not? (optional, the agent sees this)", default="")
            return Decision(approved=ok, note=note)

        return await anyio.to_thread.run_sync(prompt)

    return ask


def with_policy(settings: Settings, approver: Approver | None) -> Approver | None:
    """The user's auto-approval policy (``ERRAND_AUTO_APPROVE_BELOW=50 CNY``) in front of ``approver``."""
    if approver is None or not settings.auto_approve_below:
        return approver
    from errand.agent.confirm import auto_approve_below
    from errand.config import parse_amount

    limit, currency = parse_amount(settings.auto_approve_below)
    return auto_approve_below(limit, currency, approver)


def image_urls(paths: list[Path] | None) -> list[str]:
    """``--image`` files as data URLs; a missing file or one that is not an image is a
    `ConfigError` (one line, exit 2)."""
    urls = []
    for path in paths or []:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"--image {path}: cannot read it ({exc.strerror or exc}).") from None
        try:
            urls.append(data_url(data))
        except ImageDataError as exc:
            raise ConfigError(f"--image {path}: {exc}.") from None
    return urls
