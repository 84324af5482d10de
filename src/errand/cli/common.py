"""What every ``errand`` subcommand shares: settings from flags and the environment, the
model they name (with progress while it loads), and the terminal's approver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
from rich.prompt import Confirm, Prompt

from errand.agent import Decision
from errand.agent.confirm import Approver, ConfirmationRequest, edits
from errand.cli.console import RunRenderer
from errand.config import Settings
from errand.errors import ConfigError, EditRefused
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


def shown_value(value: Any, schema: dict[str, Any]) -> str:
    """An argument as a person types it at the prompt: a list of names as ``A, B``, text as itself."""
    if _is_text_list(schema) and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _is_text_list(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" and schema.get("items", {}).get("type") == "string"


def typed_value(name: str, text: str, schema: dict[str, Any]) -> Any:
    """What a person typed for an editable argument, as its schema's type (``A, B`` for a list
    of names, JSON for anything structured); `EditRefused` in one line when it cannot be read."""
    text = text.strip()
    kind = schema.get("type")
    try:
        if _is_text_list(schema) and not text.startswith("["):
            return [part.strip() for part in text.split(",") if part.strip()]
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "string":
            return text
        return json.loads(text)
    except ValueError:
        raise EditRefused(f"{name}: {text!r} is not a {kind or 'JSON value'}.") from None


def ask_approval(
    console: Console, question: str, arguments: dict[str, Any], editable: dict[str, dict[str, Any]]
) -> tuple[bool, str, dict[str, Any]]:
    """Ask at the terminal (blocking): approve, reject with an optional note for the agent, or,
    where the tool allows it, change arguments (``e``). Changes are checked as the runs API
    checks them, and asked again until they fit; the agent then asks about the changed call."""
    if not editable:
        ok = Confirm.ask(question, default=False, console=console)
    else:
        hint = f"{question} [dim](e: change {escape(', '.join(editable))})[/dim]"
        while (
            choice := Prompt.ask(hint, choices=["y", "n", "e"], case_sensitive=False, console=console)
        ) == "e":
            try:
                typed = {
                    name: typed_value(
                        name,
                        Prompt.ask(
                            f"  {name}", default=shown_value(arguments.get(name), schema), console=console
                        ),
                        schema,
                    )
                    for name, schema in editable.items()
                }
                if changes := edits(arguments, editable, typed):
                    return True, "", changes
                console.print("[dim]nothing changed[/dim]")
            except EditRefused as exc:
                console.print(f"[red]{escape(str(exc))}[/red]")
        ok = choice == "y"
    note = "" if ok else Prompt.ask("Why not? (optional, the agent sees this)", default="", console=console)
    return ok, note, {}


def cli_approver(renderer: RunRenderer) -> Approver:
    """Asks at the terminal, showing exactly what will happen."""

    async def ask(request: ConfirmationRequest) -> Decision:
        renderer.pause()

        def prompt() -> Decision:
            question = f"Approve {request.risk} action: {escape(request.summary)}?"
            ok, note, changes = ask_approval(console, question, request.arguments, request.editable)
            return Decision(approved=ok, note=note, arguments=changes or None)

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
