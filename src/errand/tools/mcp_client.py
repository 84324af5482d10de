"""Tools of MCP servers, through the official ``mcp`` SDK, as errand `SchemaTool`s.

    async with McpToolset.connect("time", McpServerConfig(command="python", args=["-m", "mcp_server_time"])) as ts:
        registry = ToolRegistry(ts.tools)

A server is a subprocess speaking stdio (``command``) or a streamable-HTTP endpoint
(``url``). The SDK keeps a session's reader in a task group, so a connection is an
async context manager that must be left in the task that entered it.

What errand adds on top of the SDK:

- **Risk** from the tool annotations: ``readOnlyHint: true`` is ``read``; anything
  else (``destructiveHint``, or no annotation at all) is ``write``, so errand asks
  first. ``McpServerConfig.risk`` overrides per tool; an errand server's
  ``_meta["errand/risk"]`` may raise a tool to ``payment`` but never lower it.
- **Timeouts**: each call waits at most ``timeout_s``. A server that hangs or has
  exited gives the model a `ToolError` for that call; the run goes on.
- **Results are data**: text blocks joined (structured content as JSON data when
  the server sends it) and handed to the model as an observation. Nothing in a
  result can approve a call: confirmations come only from errand's approver.
  ``isError`` results become a `ToolError` carrying the server's text.
- **Live tool lists**: ``notifications/tools/list_changed`` (or, on 2026-07-28
  connections, a ``subscriptions/listen`` event) makes the toolset list again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from typing import Any, Literal, TextIO, TypeVar

import anyio
import mcp_types as types
from anyio.abc import TaskStatus
from mcp import Client, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from errand.errors import ConfigError, ToolError
from errand.tools.base import Risk, SchemaTool, ToolContext
from errand.tools.config import McpServerConfig, expand_env

logger = logging.getLogger(__name__)

RISK_META_KEY = "errand/risk"
"""``_meta`` key an errand MCP server uses to say a tool is a ``payment`` (see `errand.server.mcp`)."""
_RISK_ORDER: dict[str, int] = {"read": 0, "write": 1, "payment": 2}
_MAX_PAGES = 100
"""Most ``tools/list`` pages read: a paginator that never ends cannot hang a connection."""
_BACKSTOP_S = 2.0
"""Extra seconds past ``timeout_s`` before errand stops waiting on its own, whatever the SDK does."""
_T = TypeVar("_T")
_START_S = 30.0
"""Least time a server gets to start: ``npx``/``uvx`` may download it first."""
_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")


def risk_of(tool: types.Tool, override: Risk | None = None) -> Risk:
    """errand's risk for an MCP tool: the override, else read only when ``readOnlyHint`` says so."""
    if override is not None:
        return override
    hinted: Risk = (
        "read" if tool.annotations is not None and tool.annotations.read_only_hint is True else "write"
    )
    claimed = (tool.meta or {}).get(RISK_META_KEY)
    if claimed == "payment" and hinted == "write":
        return "payment"
    return hinted


def model_name(name: str) -> str:
    """A tool name every model API accepts (letters, digits, ``_`` and ``-``; at most 64)."""
    return _NAME_OK.sub("_", name)[:64] or "tool"


def result_value(server: str, tool: str, result: types.CallToolResult) -> Any:
    """What the model sees of a result: structured data, else the text blocks joined.

    Raises:
        ToolError: the server marked the result ``isError``.
    """
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.EmbeddedResource):
            res = block.resource
            if isinstance(res, types.TextResourceContents):
                parts.append(res.text)
            else:
                parts.append(f"[binary resource {res.uri}]")
        elif isinstance(block, types.ResourceLink):
            parts.append(f"[resource {block.name}: {block.uri}]")
        elif isinstance(block, types.ImageContent | types.AudioContent):
            parts.append(f"[{block.type} {block.mime_type}]")
    text = "\n".join(p for p in parts if p)
    if result.is_error:
        raise ToolError(text or f"The MCP server {server} reported an error from {tool} without a message.")
    if result.structured_content is not None:
        return result.structured_content
    return text


class McpToolset:
    """One connected MCP server and its tools, kept current while connected."""

    def __init__(self, name: str, config: McpServerConfig, client: Client) -> None:
        self.name = name
        """The server's name in ``errand.toml`` (``[mcp.servers.NAME]``)."""
        self.config = config
        self._client = client
        self._tools: list[SchemaTool] = []
        self._changed = anyio.Event()
        self._on_change: Callable[[McpToolset], None] | None = None

    @property
    def tools(self) -> list[SchemaTool]:
        """The server's tools as of the last listing (a new list after each change)."""
        return self._tools

    @property
    def origin(self) -> str:
        """``mcp:NAME``: the origin and the domain of every tool of this server."""
        return f"mcp:{self.name}"

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        name: str,
        config: McpServerConfig,
        *,
        on_tools_changed: Callable[[McpToolset], None] | None = None,
        mode: Literal["auto", "legacy"] = "auto",
        errlog: TextIO | None = None,
        start_timeout_s: float | None = None,
    ) -> AsyncIterator[McpToolset]:
        """Start or reach the server, list its tools, and keep them current until exit.

        ``on_tools_changed`` is called after every new listing. ``mode="auto"`` speaks the
        newest protocol the server offers and falls back to the 2025 ``initialize``
        handshake; ``"legacy"`` goes straight to the handshake, for servers that choke on
        the ``server/discover`` probe. ``errlog`` receives a stdio server's stderr (a real
        file: it is handed to the process); by default errand's own stderr.
        ``start_timeout_s`` bounds the start (spawn, handshake, first listing); by default
        the larger of ``timeout_s`` and 30 s, since ``npx``/``uvx`` may fetch a package first.

        Raises:
            ConfigError: the server cannot be started or reached, or did not answer the handshake.
        """
        holder: list[McpToolset] = []

        async def on_message(message: IncomingMessage) -> None:
            # Runs in the SDK's reader: only flag the change, the watcher task lists again.
            if isinstance(message, types.ToolListChangedNotification) and holder:
                holder[0]._changed.set()

        connected = False
        start_s = start_timeout_s if start_timeout_s is not None else max(config.timeout_s, _START_S)
        try:
            # The whole start (spawn, handshake, first listing) has a deadline, lifted once
            # connected. The scope spans the connection because the SDK's task groups
            # inside it must close before it does.
            with anyio.CancelScope(deadline=anyio.current_time() + start_s) as deadline:
                async with AsyncExitStack() as stack:
                    transport = await _transport(name, config, stack, errlog)
                    client = Client(
                        transport,
                        # No session-wide read timeout: the start has its deadline, each request its own.
                        read_timeout_seconds=None,
                        message_handler=on_message,
                        client_info=types.Implementation(name="errand", version=_version()),
                        cache=None,  # the tool list must be what the server says now, not a cached copy
                        mode=mode,
                    )
                    try:
                        await stack.enter_async_context(client)
                    except BaseException as exc:
                        raise _connect_error(name, exc) from None
                    toolset = cls(name, config, client)
                    toolset._on_change = on_tools_changed
                    holder.append(toolset)
                    tg = await stack.enter_async_context(anyio.create_task_group())
                    stack.callback(
                        tg.cancel_scope.cancel
                    )  # runs first on exit: stop watching, then disconnect
                    tg.start_soon(toolset._watch_notifications)
                    caps = client.server_capabilities.tools
                    modern = client.protocol_version in MODERN_PROTOCOL_VERSIONS
                    if modern and caps is not None and caps.list_changed:
                        # Subscribe before the first listing, so no change can fall between the two.
                        await tg.start(toolset._listen)
                    try:
                        await toolset.refresh()
                    except ToolError as exc:
                        raise ConfigError(f"Cannot list the tools of the MCP server {name}: {exc}") from None
                    deadline.deadline = math.inf
                    connected = True
                    yield toolset
        except BaseExceptionGroup as group:
            # The SDK's task groups wrap whatever the caller's block raised; give it back as it was,
            # so `except ToolError` (and the CLI's `except ErrandError`) still work around a connection.
            leaf = _only_leaf(group)
            if leaf is None:
                raise
            raise leaf from leaf.__cause__
        if not connected:
            raise ConfigError(f"The MCP server {name} did not start within {start_s:g} s.")

    async def refresh(self) -> list[SchemaTool]:
        """List the server's tools again (every page) and rebuild them as errand tools.

        Raises:
            ToolError: the server did not answer within ``timeout_s``, has exited or refused.
        """
        listed: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await self._guard("tools/list", self._client.list_tools(cursor=cursor))
            listed.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        unknown = set(self.config.risk) - {t.name for t in listed}
        if unknown:
            logger.warning(
                "errand.toml sets a risk for %s, which the MCP server %s does not list", unknown, self.name
            )
        self._tools = [self._as_tool(t) for t in listed]
        if self._on_change is not None:
            self._on_change(self)
        return self._tools

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call ``tool`` (the server's own name) and return what the model should see.

        Raises:
            ToolError: the server did not answer within ``timeout_s``, has exited, refused the
                call, or answered with an ``isError`` result.
        """
        result = await self._guard(
            tool, self._client.call_tool(tool, arguments, read_timeout_seconds=self.config.timeout_s)
        )
        return result_value(self.name, tool, result)

    async def _guard(self, what: str, pending: Awaitable[_T]) -> _T:
        """Await one request; turn every way a server can fail into a `ToolError` for the model."""
        timeout = self.config.timeout_s
        did_not_answer = ToolError(
            f"The MCP server {self.name} did not answer {what} within {timeout:g} s; try again later "
            "or do without this tool."
        )
        try:
            with anyio.fail_after(timeout + _BACKSTOP_S):
                return await pending
        except TimeoutError:
            raise did_not_answer from None
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                raise did_not_answer from None
            if exc.code == types.CONNECTION_CLOSED:
                raise ToolError(f"The MCP server {self.name} exited: {exc.message}.") from None
            raise ToolError(f"The MCP server {self.name} refused {what}: {exc.message}") from None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ToolError(f"The MCP server {self.name} exited: {reason}.") from None
        except ValidationError as exc:
            raise ToolError(
                f"The MCP server {self.name} answered {what} with a malformed result: {exc}"
            ) from None
        except RuntimeError as exc:  # the SDK's output-schema check, or a closed client
            raise ToolError(f"The MCP server {self.name} could not complete {what}: {exc}") from None

    def _as_tool(self, tool: types.Tool) -> SchemaTool:
        server, original = self.name, tool.name
        title = tool.title or (tool.annotations.title if tool.annotations else None)
        description = tool.description or title or original

        async def fn(arguments: dict[str, Any], ctx: ToolContext) -> Any:
            return await self.call(original, arguments)

        def confirm_text(arguments: dict[str, Any]) -> str:
            args = json.dumps(arguments, ensure_ascii=False, default=str)
            return f"Call {title or original} on the MCP server {server} with {args}"

        return SchemaTool(
            fn,
            name=model_name(original),
            description=description,
            parameters=dict(tool.input_schema),
            risk=risk_of(tool, self.config.risk.get(original)),
            domain=self.origin,
            origin=self.origin,
            confirm_text=confirm_text,
        )

    async def _watch_notifications(self) -> None:
        """List again after each ``tools/list_changed`` (handshake-era connections)."""
        while True:
            await self._changed.wait()
            self._changed = anyio.Event()
            await self._refresh_quietly()

    async def _listen(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """List again after each tools-changed event of a ``subscriptions/listen`` stream (2026-07-28)."""
        try:
            async with self._client.listen(tools_list_changed=True) as sub:
                task_status.started()
                async for _event in sub:
                    await self._refresh_quietly()
        except (MCPError, SubscriptionLost, ListenNotSupportedError, TimeoutError) as exc:
            logger.info("The MCP server %s stopped sending tool list changes: %s", self.name, exc)
        finally:
            with suppress(RuntimeError):  # already started
                task_status.started()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except ToolError as exc:
            logger.warning("Could not list the tools of the MCP server %s again: %s", self.name, exc)


def _stderr(stack: AsyncExitStack) -> TextIO:
    """A stderr a subprocess can inherit: ours, or the process's own when ours is captured in memory."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.fileno()
                return stream
        except (OSError, ValueError, AttributeError):
            continue
    return stack.enter_context(open(os.devnull, "w"))


def _connect_error(name: str, exc: BaseException) -> BaseException:
    """A clear `ConfigError` for a server that could not be started or did not answer the handshake."""
    leaf = _only_leaf(exc) if isinstance(exc, BaseExceptionGroup) else exc
    if isinstance(leaf, MCPError):
        if leaf.code == types.CONNECTION_CLOSED:
            return ConfigError(f"The MCP server {name} exited before completing the MCP handshake.")
        return ConfigError(f"The MCP server {name} did not complete the MCP handshake: {leaf.message}.")
    if isinstance(leaf, OSError | anyio.BrokenResourceError | anyio.ClosedResourceError | anyio.EndOfStream):
        return ConfigError(f"Cannot start or reach the MCP server {name}: {leaf or type(leaf).__name__}")
    return exc


def _only_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested exception groups, or None when there are several."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    return leaves[0] if len(leaves) == 1 else None


async def _transport(name: str, config: McpServerConfig, stack: AsyncExitStack, errlog: TextIO | None) -> Any:
    """The SDK transport for a configured server (environment values expanded)."""
    if config.command is not None:
        env = {k: expand_env(v) for k, v in config.env.items()}
        params = StdioServerParameters(command=config.command, args=list(config.args), env=env or None)
        return stdio_client(params, errlog=errlog or _stderr(stack))
    assert config.url is not None  # the config validator guarantees one transport
    headers = {k: expand_env(v) for k, v in config.headers.items()}
    http = await stack.enter_async_context(create_mcp_http_client(headers=headers or None))
    return streamable_http_client(config.url, http_client=http)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("errand")
    except PackageNotFoundError:
        return "0"
