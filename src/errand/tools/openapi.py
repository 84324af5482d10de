"""HTTP APIs described by OpenAPI become tools.

A business's booking engine or catalogue usually publishes an OpenAPI document.
Each operation in it becomes a `SchemaTool`: its path, query and header
parameters and its JSON request body form the tool's schema, GET and HEAD are
``read`` and every other method ``write`` (so errand asks before it changes
anything), and an HTTP error goes back to the model as a readable observation.

    [openapi.inventory]
    spec = "http://127.0.0.1:8001/openapi.json"   # or a file path, JSON or YAML
    bearer_token_env = "INVENTORY_TOKEN"

``$ref``s (local, other files, other URLs) are resolved with `referencing`, the
library behind ``jsonschema``, and inlined: small models cannot follow references.

Request bodies: a JSON object body whose property names do not clash with the
operation's parameters is *flattened*, its properties becoming top-level
arguments (small models fill flat arguments far more reliably than nested ones);
any other body (an array, a free-form map, a ``oneOf``, or a clash) is one
``body`` argument. Form-encoded bodies are treated the same way; operations whose
body is neither JSON nor a form (file uploads) are left out, and so are cookie
parameters.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode, urljoin, urlsplit
from urllib.request import url2pathname

import anyio.to_thread
import httpx2 as httpx
import yaml
from referencing import Registry
from referencing.exceptions import Unresolvable, Unretrievable
from referencing.jsonschema import DRAFT202012
from referencing.retrieval import to_cached_resource

from errand.errors import ConfigError, ToolError
from errand.tools.base import Risk, SchemaTool, ToolContext
from errand.tools.config import OpenAPIConfig, expand_env

if TYPE_CHECKING:
    from referencing._core import Resolver  # not re-exported, but what `Registry.resolver` returns

__all__ = ["load_openapi_tools"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_READ_METHODS = frozenset({"get", "head"})
_RESERVED_HEADERS = frozenset({"accept", "content-type", "authorization"})
"""Header parameters OpenAPI says to ignore; auth comes from the configuration, never the model."""
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
"""Schema keywords whose keys are names (a property may be called ``example``), not keywords."""
_DROPPED_KEYWORDS = frozenset({"example", "examples", "xml", "externalDocs", "discriminator", "deprecated"})
_MAX_NAME = 64
_MAX_DESCRIPTION = 400
_MAX_SUMMARY = 300

Location = Literal["path", "query", "header"]


@dataclass(frozen=True)
class _Param:
    prop: str
    """The argument's name in the tool schema."""
    name: str
    """The parameter's name in the HTTP request."""
    location: Location


@dataclass(frozen=True)
class _Operation:
    method: str
    path: str
    params: tuple[_Param, ...]
    body: Literal["none", "json", "form"]
    body_required: bool
    flattened: frozenset[str] | None
    """Top-level arguments that make up the body, or None when it is one ``body`` argument."""


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    url: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any
    """The body to send; ``...`` when there is none."""


async def load_openapi_tools(
    name: str, config: OpenAPIConfig, *, client: httpx.AsyncClient | None = None
) -> list[SchemaTool]:
    """One tool per operation of the API configured as ``[openapi.NAME]``.

    ``client`` is used for the spec and every call when given (tests, a shared pool,
    custom TLS) and is never closed here; without one each call opens and closes its
    own, so the tools hold no connections between runs. Raises `ConfigError` when the
    spec cannot be read or a configured environment variable is missing.
    """
    section = f"[openapi.{name}]"
    auth = _auth_headers(section, config)
    send_auth_to_spec = config.base_url is None or _origin(config.base_url) == _origin(config.spec)
    text, spec_uri = await _fetch_spec(section, config, client, auth if send_auth_to_spec else {})
    document = _parse_document(text, spec_uri, section)
    base_url = _base_url(section, config, document, spec_uri)
    # External $refs are read synchronously by `referencing`, so resolution runs off the event loop.
    operations = await anyio.to_thread.run_sync(
        lambda: _operations(document, spec_uri, section, config.timeout_s)
    )
    known = {op_id for op_id, *_ in operations} | {tool_name for _, tool_name, *_ in operations}
    unknown = sorted(set(config.risk) - known)
    if unknown:
        raise ConfigError(
            f"{section} sets a risk for {', '.join(unknown)}, which the spec does not define; "
            f"its operations are: {', '.join(sorted(t for _, t, *_ in operations))}."
        )
    tools = []
    for op_id, tool_name, description, parameters, op in operations:
        default: Risk = "read" if op.method in _READ_METHODS else "write"
        risk = config.risk.get(op_id) or config.risk.get(tool_name) or default
        tools.append(
            SchemaTool(
                _caller(name, op, base_url, auth, config.timeout_s, client),
                name=tool_name,
                description=description,
                parameters=parameters,
                risk=risk,
                domain=f"openapi:{name}",
                origin=f"openapi:{name}",
                confirm_text=_confirm_text(name, op, base_url),
            )
        )
    return tools


# -- loading ---------------------------------------------------------------------------------------


def _auth_headers(section: str, config: OpenAPIConfig) -> dict[str, str]:
    """Headers every request carries: the configured ones, then the bearer token."""
    headers = {key: expand_env(value) for key, value in config.headers.items()}
    if config.bearer_token_env:
        token = os.environ.get(config.bearer_token_env)
        if not token:
            raise ConfigError(
                f"{section} takes its bearer token from {config.bearer_token_env}, "
                "which is not set in the environment."
            )
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


@asynccontextmanager
async def _client(client: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's client, or a fresh one closed on exit."""
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient(follow_redirects=True) as own:
        yield own


async def _fetch_spec(
    section: str, config: OpenAPIConfig, client: httpx.AsyncClient | None, headers: dict[str, str]
) -> tuple[str, str]:
    """The spec's text and its absolute URI (the base for relative ``$ref``s and servers)."""
    source = config.spec
    if _is_http(source):
        try:
            async with _client(client) as http:
                response = await http.get(source, headers=headers, timeout=config.timeout_s)
        except httpx.HTTPError as exc:
            raise ConfigError(
                f"Cannot fetch the OpenAPI spec of {section} from {source}: {exc or type(exc).__name__}"
            ) from None
        if response.status_code >= 400:
            raise ConfigError(
                f"Cannot fetch the OpenAPI spec of {section}: {source} returned {response.status_code}."
            )
        return response.text, str(response.url)
    path = Path(url2pathname(urlsplit(source).path) if source.startswith("file:") else source).expanduser()
    try:
        return path.read_text(encoding="utf-8"), path.resolve().as_uri()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"Cannot read the OpenAPI spec of {section} at {path}: {reason}.") from None


def _load_text(text: str) -> Any:
    """JSON, or YAML (a superset) when it is not JSON."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def _parse_document(text: str, uri: str, section: str) -> dict[str, Any]:
    """The spec as a mapping; only OpenAPI 3 is accepted."""
    try:
        document = _load_text(text)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(
            f"The OpenAPI spec of {section} ({uri}) is neither JSON nor YAML: {problem}"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise ConfigError(f"{uri}, the spec of {section}, is not an OpenAPI document (it has no `paths`).")
    version = str(document.get("openapi", document.get("swagger", "?")))
    if not version.startswith("3."):
        raise ConfigError(f"{section}: errand reads OpenAPI 3.x specs; {uri} is version {version}.")
    return document


def _base_url(section: str, config: OpenAPIConfig, document: Mapping[str, Any], spec_uri: str) -> str:
    """``base_url``, else the spec's first server (relative to the spec), else the spec's origin."""
    if config.base_url:
        return config.base_url.rstrip("/")
    servers = document.get("servers") or []
    if servers and isinstance(servers[0], dict) and isinstance(servers[0].get("url"), str):
        url: str = servers[0]["url"]
        for var, spec in (servers[0].get("variables") or {}).items():
            url = url.replace("{" + var + "}", str(spec.get("default", "")))
        if _is_http(url):
            return url.rstrip("/")
        if _is_http(spec_uri):
            return urljoin(spec_uri, url).rstrip("/")
    elif _is_http(spec_uri):
        scheme, netloc = _origin(spec_uri)
        return f"{scheme}://{netloc}"
    raise ConfigError(
        f"{section} needs `base_url`: the spec at {spec_uri} names no absolute server to send requests to."
    )


# -- operations --------------------------------------------------------------------------------------


def _operations(
    document: dict[str, Any], spec_uri: str, section: str, timeout_s: float
) -> list[tuple[str, str, str, dict[str, Any], _Operation]]:
    """(operationId, tool name, description, schema, operation) for every usable operation."""

    @to_cached_resource(loads=_load_text, from_contents=DRAFT202012.create_resource)
    def retrieve(uri: str) -> str:
        if _is_http(uri):
            response = httpx.get(uri, timeout=timeout_s, follow_redirects=True)
            response.raise_for_status()
            return response.text
        return Path(url2pathname(urlsplit(uri).path)).read_text(encoding="utf-8")

    empty: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]  # attrs alias mypy misses
    registry = empty.with_resource(spec_uri, DRAFT202012.create_resource(document))
    resolver = registry.resolver(spec_uri)
    out: list[tuple[str, str, str, dict[str, Any], _Operation]] = []
    used: set[str] = set()
    try:
        for path, raw_item in document["paths"].items():
            item = _resolve(raw_item, resolver)
            if not isinstance(item, dict):
                continue
            shared = item.get("parameters") or []
            for method in _METHODS:
                op = item.get(method)
                if not isinstance(op, dict):
                    continue
                built = _operation(method, path, op, shared)
                if built is None:
                    continue
                description, parameters, operation = built
                op_id = str(op.get("operationId") or "")
                tool_name = _unique(_tool_name(op_id or f"{method} {path}"), used)
                out.append((op_id or tool_name, tool_name, description, parameters, operation))
    except (Unresolvable, Unretrievable) as exc:
        raise ConfigError(f"The OpenAPI spec of {section} has a $ref errand cannot resolve: {exc}") from None
    return out


def _resolve(node: Any, resolver: Resolver[Any], active: frozenset[int] = frozenset()) -> Any:
    """``node`` with every ``$ref`` inlined; a reference back into itself becomes ``{}`` (any value).

    `referencing` does the lookups (base URIs, JSON pointers, other documents); this
    walk only decides where to inline them.
    """
    if isinstance(node, list):
        return [_resolve(v, resolver, active) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        resolved = resolver.lookup(ref)
        target = resolved.contents
        siblings = {k: _resolve(v, resolver, active) for k, v in node.items() if k != "$ref"}
        if id(target) in active:
            return {"description": f"(recursive: {ref.rsplit('/', 1)[-1]})", **siblings}
        inlined = _resolve(target, resolved.resolver, active | {id(target)})
        return {**inlined, **siblings} if isinstance(inlined, dict) else inlined
    return {k: _resolve(v, resolver, active) for k, v in node.items()}


def _tool_name(raw: str) -> str:
    """Tool names allow ``[a-zA-Z0-9_]``, at most 64 characters."""
    cleaned = re.sub(r"[^a-zA-Z0-9_]+", "_", raw).strip("_") or "operation"
    return cleaned[:_MAX_NAME]


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        suffix = f"_{n}"
        candidate, n = name[: _MAX_NAME - len(suffix)] + suffix, n + 1
    used.add(candidate)
    return candidate


def _operation(
    method: str, path: str, op: dict[str, Any], shared: list[Any]
) -> tuple[str, dict[str, Any], _Operation] | None:
    """The description, argument schema and request plan of one operation (None: unusable)."""
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for p in [*shared, *(op.get("parameters") or [])]:  # operation parameters override the path's
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            by_key[(p["name"], str(p.get("in")))] = p
    properties: dict[str, Any] = {}
    required: list[str] = []
    params: list[_Param] = []
    for (pname, location), p in by_key.items():
        if location not in ("path", "query", "header"):
            continue  # cookies are not supported
        if location == "header" and pname.lower() in _RESERVED_HEADERS:
            continue
        prop = pname if pname not in properties else f"{pname}_{location}"
        schema = _json_schema(p.get("schema") or {}, writing=True)
        if p.get("description") and "description" not in schema:
            schema["description"] = p["description"]
        properties[prop] = schema
        if p.get("required") or location == "path":
            required.append(prop)
        params.append(_Param(prop=prop, name=pname, location=location))  # type: ignore[arg-type]

    body: Literal["none", "json", "form"] = "none"
    body_required = False
    flattened: frozenset[str] | None = None
    request_body = op.get("requestBody")
    if isinstance(request_body, dict) and isinstance(request_body.get("content"), dict):
        media = _pick_media(request_body["content"])
        if media is None:
            return None  # file uploads and other encodings cannot be called with JSON arguments
        body, schema = media[0], _json_schema(media[1], writing=True)
        body_required = bool(request_body.get("required"))
        body_props = schema.get("properties")
        flat = (
            schema.get("type") in ("object", None)
            and isinstance(body_props, dict)
            and body_props
            and not any(k in schema for k in ("allOf", "anyOf", "oneOf", "$ref"))
            and not isinstance(schema.get("additionalProperties"), dict)
            and not set(body_props) & set(properties)
        )
        if flat:
            assert isinstance(body_props, dict)
            properties.update(body_props)
            flattened = frozenset(body_props)
            if body_required:
                required.extend(r for r in schema.get("required", []) if r in body_props)
        elif "body" not in properties:
            if request_body.get("description") and "description" not in schema:
                schema["description"] = request_body["description"]
            properties["body"] = schema
            if body_required:
                required.append("body")
        else:
            return None  # a parameter called `body` and a body that cannot be flattened

    summary = str(op.get("summary") or "").strip()
    details = str(op.get("description") or "").strip()
    if summary and details and not details.startswith(summary):
        description = f"{summary.rstrip('.')}. {details}"
    else:
        description = details or summary or f"{method.upper()} {path}"
    if len(description) > _MAX_DESCRIPTION:
        description = description[: _MAX_DESCRIPTION - 1].rstrip() + "…"
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        parameters["required"] = list(dict.fromkeys(required))
    return description, parameters, _Operation(method, path, tuple(params), body, body_required, flattened)


def _pick_media(content: dict[str, Any]) -> tuple[Literal["json", "form"], dict[str, Any]] | None:
    """The JSON media type of a request body, else a URL-encoded form, else None."""
    for media, spec in content.items():
        base = media.split(";")[0].strip().lower()
        if base in ("application/json", "*/*") or base.endswith("+json"):
            return "json", (spec or {}).get("schema") or {}
    for media, spec in content.items():
        if media.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            return "form", (spec or {}).get("schema") or {}
    return None


def _json_schema(node: Any, *, writing: bool) -> Any:
    """An OpenAPI schema as plain JSON Schema 2020-12, the dialect tools are validated with.

    OpenAPI 3.0's ``nullable`` and boolean ``exclusiveMinimum`` become their JSON
    Schema forms, examples and other documentation-only keywords go (they cost
    prompt tokens), and ``readOnly`` properties leave request schemas.
    """
    if isinstance(node, list):
        return [_json_schema(v, writing=writing) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS or key == "nullable":
            continue
        if key in _NAME_MAPS and isinstance(value, dict):
            out[key] = {
                name: _json_schema(sub, writing=writing)
                for name, sub in value.items()
                if not (writing and key == "properties" and isinstance(sub, dict) and sub.get("readOnly"))
            }
        else:
            out[key] = _json_schema(value, writing=writing)
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # OpenAPI 3.0: a flag on minimum/maximum rather than a bound of its own.
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif kind is None and "enum" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    return out


# -- calling -------------------------------------------------------------------------------------


def _request(op: _Operation, base_url: str, arguments: Mapping[str, Any]) -> _Request:
    """The HTTP request a call makes: path filled in, query, headers and body split out."""
    path = op.path
    query: dict[str, Any] = {}
    headers: dict[str, str] = {}
    for p in op.params:
        if p.prop not in arguments:
            continue
        value = arguments[p.prop]
        if p.location == "path":
            path = path.replace("{" + p.name + "}", _segment(p.name, value))
        elif p.location == "query":
            query[p.name] = [_scalar(v) for v in value] if isinstance(value, list) else _scalar(value)
        else:
            headers[p.name] = _text(value)
    body: Any = ...
    if op.flattened is not None:
        fields = {k: v for k, v in arguments.items() if k in op.flattened}
        if fields or op.body_required:
            body = fields
    elif "body" in arguments:
        body = arguments["body"]
    return _Request(op.method.upper(), path, base_url + path, query, headers, body)


def _segment(name: str, value: Any) -> str:
    """A path argument as exactly one segment of the operation's path: ``/`` and the rest
    escaped, and ``.`` or ``..`` refused (an HTTP client folds them into the path, so
    ``/stock/..`` would call ``/``: another operation, or one the spec does not offer)."""
    text = _text(value)
    if text in (".", ".."):
        raise ToolError(f"{name} cannot be {text!r}: give the value the API names it by.")
    return quote(text, safe="")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _scalar(value: Any) -> str | int | float:
    """A query value as httpx sends it (booleans as ``true``/``false``, like the confirmation shows)."""
    return value if isinstance(value, str | int | float) and not isinstance(value, bool) else _text(value)


def _confirm_text(api: str, op: _Operation, base_url: str) -> Callable[[dict[str, Any]], str]:
    """What a confirmation shows: the exact method, URL and body (never the auth headers)."""

    def describe(arguments: dict[str, Any]) -> str:
        req = _request(op, base_url, arguments)
        url = req.url + (f"?{urlencode(req.query, doseq=True)}" if req.query else "")
        body = "" if req.body is ... else f" with {json.dumps(req.body, ensure_ascii=False, default=str)}"
        return f"{req.method} {url} ({api} API){body}"

    return describe


def _caller(
    api: str,
    op: _Operation,
    base_url: str,
    auth: dict[str, str],
    timeout_s: float,
    client: httpx.AsyncClient | None,
) -> Callable[[dict[str, Any], ToolContext], Any]:
    """The tool function: send the request, return the parsed answer or raise `ToolError`."""

    async def call(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        req = _request(op, base_url, arguments)
        body: dict[str, Any] = {}
        if req.body is not ...:
            body = {"json": req.body} if op.body != "form" else {"data": req.body}
        try:
            async with _client(client) as http:
                response = await http.request(
                    req.method,
                    req.url,
                    params=req.query or None,
                    headers={**req.headers, **auth},  # the configuration's auth wins over arguments
                    timeout=timeout_s,
                    **body,
                )
        except httpx.TimeoutException:
            raise ToolError(
                f"The {api} API at {base_url} did not answer {req.method} {req.path} within {timeout_s:g} s."
            ) from None
        except httpx.HTTPError as exc:
            raise ToolError(
                f"The {api} API at {base_url} is unreachable: {exc or type(exc).__name__}."
            ) from None
        if not response.is_success:
            raise ToolError(
                f"{req.method} {req.path} returned {response.status_code}: {_error_summary(response)}"
            )
        return _success_value(response)

    return call


def _success_value(response: httpx.Response) -> Any:
    """Parsed JSON when the API sent JSON, else its text; the status when it sent nothing."""
    if not response.content:
        return {"status": response.status_code}
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SUMMARY else text[: _MAX_SUMMARY - 1] + "…"


def _error_summary(response: httpx.Response) -> str:
    """A short reason: FastAPI/pydantic ``detail`` lists as ``field: message``, else the body."""
    try:
        data = response.json()
    except ValueError:
        return _shorten(response.text) or response.reason_phrase
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, list) and detail:
            problems = []
            for item in detail:
                if not isinstance(item, dict):
                    problems.append(str(item))
                    continue
                loc = [str(part) for part in item.get("loc") or []]
                if len(loc) > 1 and loc[0] in ("body", "query", "path", "header", "cookie"):
                    loc = loc[1:]
                problems.append(f"{'.'.join(loc) or 'request'}: {item.get('msg', item)}")
            return _shorten("; ".join(problems))
        title = data.get("title")
        if isinstance(detail, str):
            return _shorten(f"{title}: {detail}" if isinstance(title, str) else detail)
        for key in ("message", "error", "title"):
            if isinstance(data.get(key), str):
                return _shorten(data[key])
    return _shorten(json.dumps(data, ensure_ascii=False))
