"""Outside tools from ``errand.toml``: MCP servers and OpenAPI specs.

    [mcp.servers.time]
    command = "python"
    args = ["-m", "mcp_server_time", "--local-timezone", "Asia/Shanghai"]
    description = "The current time in any time zone, and converting times between zones."

    [mcp.servers.crm]
    url = "http://127.0.0.1:9000/mcp"
    headers = { Authorization = "Bearer ${CRM_TOKEN}" }
    risk = { lookup_customer = "read" }

    [openapi.inventory]
    spec = "http://127.0.0.1:8001/openapi.json"   # or a file path
    base_url = "http://127.0.0.1:8001"
    bearer_token_env = "INVENTORY_TOKEN"

The file is ``errand.toml`` in the working directory, or the path in ``ERRAND_CONFIG``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from errand.errors import ConfigError

RiskName = Literal["read", "write", "payment"]


class McpServerConfig(BaseModel):
    """One MCP server: a command to start (stdio) or a URL (streamable HTTP)."""

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    risk: dict[str, RiskName] = Field(default_factory=dict)
    """Per-tool risk overriding the server's annotations."""
    description: str = ""
    """One line saying what this server's tools are for, shown to the model when it chooses the
    services a request needs (default: its tools' own descriptions)."""
    timeout_s: float = 30.0
    """Seconds a call may take before the model is told the server did not answer."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (stdio) or `url` (streamable HTTP)")
        return self


class OpenAPIConfig(BaseModel):
    """One HTTP API described by an OpenAPI document."""

    spec: str
    """A file path or an http(s) URL of the OpenAPI JSON or YAML."""
    base_url: str | None = None
    """Where requests go; defaults to the spec's first server."""
    bearer_token_env: str | None = None
    """Environment variable holding a bearer token."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers; values may name environment variables as ``${NAME}``."""
    risk: dict[str, RiskName] = Field(default_factory=dict)
    """Per-operation risk overriding the method's default (GET read, others write)."""
    description: str = ""
    """One line saying what this API is for (see `McpServerConfig.description`)."""
    timeout_s: float = 30.0


class McpSection(BaseModel):
    servers: dict[str, McpServerConfig] = Field(default_factory=dict)


class ToolsConfig(BaseModel):
    """The outside-tools part of ``errand.toml``."""

    mcp: McpSection = Field(default_factory=McpSection)
    openapi: dict[str, OpenAPIConfig] = Field(default_factory=dict)


def config_path() -> Path | None:
    """``ERRAND_CONFIG`` if set (it must exist), else ``./errand.toml`` if present."""
    named = os.environ.get("ERRAND_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"ERRAND_CONFIG points to {path}, which does not exist.")
        return path
    local = Path("errand.toml")
    return local if local.is_file() else None


def expand_env(value: str) -> str:
    """``${NAME}`` replaced by the environment variable (a missing one is a `ConfigError`)."""
    out = value
    start = out.find("${")
    while start >= 0:
        end = out.find("}", start)
        if end < 0:
            break
        name = out[start + 2 : end]
        if name not in os.environ:
            raise ConfigError(
                f"The configuration uses ${{{name}}}, but {name} is not set in the environment."
            )
        out = out[:start] + os.environ[name] + out[end + 1 :]
        start = out.find("${", start)
    return out


def load_tools_config(path: Path | None = None) -> ToolsConfig:
    """Read the outside-tools configuration; an empty one when there is no file."""
    path = path or config_path()
    if path is None:
        return ToolsConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None
    try:
        return ToolsConfig.model_validate({k: v for k, v in data.items() if k in ("mcp", "openapi")})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"Invalid {path}: {problems}") from None
