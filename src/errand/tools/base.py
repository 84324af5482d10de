"""Typed Python functions become tools.

The JSON schema comes from the type hints (through pydantic), the description
from the docstring, and side-effect facts (`risk`, `domain`) from the decorator.
A `ToolContext` parameter is injected by errand and never shown to the model, and an
`Editable` one may be changed by the person who approves the call.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_type_hints, overload

import anyio.to_thread
import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from typing_extensions import is_typeddict

from errand.errors import ToolArgumentsError
from errand.llm.types import ToolSpec
from errand.tools.provenance import AsAsked, FromResults, FromUser, Provenance

Risk = Literal["read", "write", "payment"]
"""What a tool may do: only read, change state, or move money."""


@dataclass(frozen=True)
class Editable:
    """A person may change this argument when they approve the call (the date, the passengers,
    a quantity, the address): the call is then priced again and put to them once more.

    ```python
    def book_hotel(hotel_id: str, rooms: Annotated[int, Editable()] = 1) -> dict: ...
    ```

    On the parameter, like `FromUser`, so the fact sits beside what it is about and cannot name
    a parameter the tool does not have. Ids stay fixed: changing what is booked is a new search,
    which the person asks for by rejecting with a note."""


def utc_now() -> datetime:
    """The real clock: now, in UTC (time-zone aware)."""
    return datetime.now(UTC)


@dataclass
class ToolContext:
    """What errand hands a tool besides the model's arguments."""

    user: str = "local"
    """The user the run belongs to."""
    run_id: str = ""
    """The run making the call."""
    idempotency_key: str = ""
    """Unique per run and step: services store it so a retry never repeats an effect."""
    session: Any = None
    """An open SQLAlchemy `Session` for the services database, when the tool needs one."""
    artifacts_dir: Path = field(default_factory=lambda: Path("."))
    """Folder where a tool may save files (charts) for the user."""
    quote: tuple[int, str] | None = None
    """Set by a confirmation text that priced the call: (amount in minor units, currency).
    An approval policy such as "auto-approve payments under 50 CNY" reads it."""
    now: Callable[[], datetime] = utc_now
    """The clock the tool reads (time-zone aware): the real one, unless whoever runs the tool
    fixed the time (the eval's frozen moment, a test's). Tools never ask the system clock."""


def artifacts_folder(root: Path, run_id: str) -> Path:
    """A run's own folder for the files its tools save (charts): only files in it are the
    run's artifacts. The run id is made a safe folder name."""
    return root / (re.sub(r"[^A-Za-z0-9_-]", "_", run_id) or "_")


class ToolResult(BaseModel):
    """What a tool call returned, ready to show the model and the user."""

    ok: bool
    """False when the tool raised or its arguments were invalid."""
    content: str
    """JSON (or text) given to the model as the observation."""
    summary: str = ""
    """One line for people: what came back."""
    artifacts: list[str] = Field(default_factory=list)
    """Paths of files the tool saved (charts)."""


_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.+)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into the summary and per-argument descriptions."""
    doc = inspect.cleandoc(doc or "")
    summary_lines: list[str] = []
    params: dict[str, str] = {}
    section = "summary"
    last: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            section = "args"
            continue
        if stripped in ("Returns:", "Raises:", "Examples:"):
            section = "other"
            continue
        if section == "summary":
            summary_lines.append(stripped)
        elif section == "args":
            m = _ARG_LINE.match("  " + line) if not line.startswith(" ") else _ARG_LINE.match(line)
            if m and line.startswith("    ") and not line.startswith("      "):
                last = m.group(1)
                params[last] = m.group(2).strip()
            elif last and stripped:
                params[last] += " " + stripped
    summary = " ".join(s for s in summary_lines if s).strip()
    return summary, params


def _compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop titles and other noise so the schema costs few prompt tokens."""

    def walk(node: Any, names: bool = False) -> Any:
        # ``names``: the keys of this dict are property names (a field may be called "title").
        if isinstance(node, dict):
            if names:
                return {k: walk(v) for k, v in node.items()}
            node = {k: walk(v, k == "properties") for k, v in node.items() if k != "title"}
            options = node.get("anyOf")
            if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
                # `X | None = None` is shown as plain X: the default already says it may be left out.
                node.pop("anyOf")
                node.update(next(o for o in options if o != {"type": "null"}))
                if node.get("default", 0) is None:
                    node.pop("default")
            return node
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    out.pop("additionalProperties", None)
    return out


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strict_problems(arguments: dict[str, Any], schema: dict[str, Any], *, positive: bool) -> list[str]:
    """What lenient coercion would let through, for every tool in one place: a boolean where a
    number is expected (``rooms: true`` booked one room), control characters in text (an
    address of ``"\\u0000"``), and, for writes (``positive``), a count of zero or less
    (``nights: 0`` booked a night)."""
    problems: list[str] = []

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        node = _resolved(schema, node)
        kind = node.get("type")
        if isinstance(value, bool):
            if kind in ("integer", "number"):
                problems.append(f"{path}: a number is expected, not {str(value).lower()}")
        elif (
            isinstance(value, int | float)
            and positive
            and kind == "integer"
            and value <= 0
            and not {"minimum", "exclusiveMinimum"} & node.keys()  # a declared bound speaks for itself
        ):
            problems.append(f"{path}: must be 1 or more (got {value})")
        elif isinstance(value, str) and _CONTROL.search(value):
            problems.append(f"{path}: contains control characters")
        elif isinstance(value, dict):
            props = node.get("properties", {})
            for k, v in value.items():
                walk(v, props.get(k, {}), f"{path}.{k}")
        elif isinstance(value, list):
            items = node.get("items", {})
            for i, v in enumerate(value):
                walk(v, items if isinstance(items, dict) else {}, f"{path}.{i}")

    props = schema.get("properties", {})
    for name, value in arguments.items():
        walk(value, props.get(name, {}), name)
    return problems


def _field_provenance(annotation: Any) -> dict[str, Provenance]:
    """`FromResults` / `FromUser` on the fields of the objects a parameter holds: a TypedDict, or
    a list of them (``items: list[OrderItem]`` whose ``item_id`` comes from a menu)."""
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        if is_typeddict(arg):
            hints = get_type_hints(arg, include_extras=True)
            return {
                name: meta
                for name, hint in hints.items()
                for meta in getattr(hint, "__metadata__", ())
                if isinstance(meta, FromResults | FromUser | AsAsked)
            }
    return {}


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` itself, or the ``$defs`` (or ``definitions``) entry its ``$ref`` names: the same
    object, so a caller may edit it. The one place a local ``$ref`` is followed."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    name = ref.rsplit("/", 1)[-1]
    for section in ("$defs", "definitions"):
        found = schema.get(section, {}).get(name)
        if isinstance(found, dict):
            return found
    return node


def _field_schemas(schema: dict[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """The schema of each of ``names``, standing alone (``$ref``s to ``$defs`` written out), so a
    form or a validator needs nothing else."""

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            target = _resolved(schema, node)
            if target is not node:
                return inline({**target, **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    props = schema.get("properties", {})
    return {n: inline(props[n]) for n in names if n in props}


class Tool:
    """A callable the model may use, with its schema, risk and domain."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        risk: Risk = "read",
        domain: str = "general",
        confirm_text: Callable[..., str] | None = None,
        origin: str = "python",
    ) -> None:
        self.fn = fn
        self.origin = origin
        """Where the tool comes from: ``python``, ``mcp:<server>``, ``openapi:<spec>``."""
        self.name = name or fn.__name__
        summary, arg_docs = _parse_docstring(fn.__doc__ or "")
        self.description = description or summary or self.name
        self.risk: Risk = risk
        self.domain = domain
        self._confirm_text = confirm_text
        self._is_async = inspect.iscoroutinefunction(fn)
        hints = get_type_hints(fn)
        extras = get_type_hints(fn, include_extras=True)
        self._ctx_param: str | None = None
        self.provenance: dict[str, Provenance] = {}
        """Parameter → where its value must come from (`FromResults`, `FromUser`)."""
        editable: list[str] = []
        fields: dict[str, Any] = {}
        for pname, param in inspect.signature(fn).parameters.items():
            annotation = hints.get(pname, Any)
            for meta in getattr(extras.get(pname), "__metadata__", ()):
                if isinstance(meta, FromResults | FromUser | AsAsked):
                    self.provenance[pname] = meta
                elif isinstance(meta, Editable):
                    editable.append(pname)
            for field_name, meta in _field_provenance(annotation).items():
                self.provenance[f"{pname}.{field_name}"] = meta
            if annotation is ToolContext:
                self._ctx_param = pname
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            # with its Annotated metadata: a pydantic constraint there (``Field(max_length=12)``)
            # is in the schema, so the grammar holds the model to it
            fields[pname] = (extras.get(pname, annotation), Field(default, description=arg_docs.get(pname)))
        self.args_model: type[BaseModel] = create_model(
            f"{self.name}_args", __config__=ConfigDict(extra="forbid"), **fields
        )
        self.parameters = _compact_schema(self.args_model.model_json_schema())
        self.editable: dict[str, dict[str, Any]] = _field_schemas(self.parameters, editable)
        """Parameter → its JSON schema, for each `Editable` one: what a confirmation form shows."""

    def takes_id(self, ids: Iterable[str]) -> bool:
        """Whether one of ``ids`` has the declared shape of one of this tool's id parameters
        (`FromResults.shape`) that a user may type: a request that types such an id is about this
        tool's records."""
        sources = [p for p in self.provenance.values() if isinstance(p, FromResults) and p.typed]
        return any(p.fits(i) for i in ids for p in sources)

    def spec(self) -> ToolSpec:
        """What the model is told about this tool."""
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def spec_within(self, ids: Callable[[FromResults], set[str]]) -> ToolSpec:
        """The spec with each `FromResults` parameter limited, at decode time only, to the ids
        ``ids(source)`` knows for it (the prompt still shows the plain schema). A required one with no id
        known yet makes the tool not callable this step: an id cannot be invented."""
        spec = self.spec()
        sources = {n: p for n, p in self.provenance.items() if isinstance(p, FromResults)}
        if not sources:
            return spec
        params = json.loads(json.dumps(self.parameters))
        props = params.get("properties", {})
        required = set(params.get("required", ()))
        callable_now = True
        for path, source in sources.items():
            pname, _, field_name = path.partition(".")
            prop = props.get(pname)
            if prop is None:
                continue
            target = prop.get("items", prop) if prop.get("type") == "array" else prop
            if field_name:  # a field of the objects the parameter holds (items.item_id)
                target = _resolved(params, target).get("properties", {}).get(field_name)
                if target is None:
                    continue
            known: list[Any] = sorted(ids(source))
            if target.get("type") == "integer":
                known = [int(k) for k in known if k.isdigit()]
            if not known:
                if pname in required:
                    callable_now = False
                props.pop(pname, None)  # an optional id with nothing to choose from is left out
                continue
            target["enum"] = known
            if prop.get("type") == "array" and not field_name:  # each known id once at most:
                prop["maxItems"] = min(prop.get("maxItems", len(known)), len(known))  # no runaway list
        return spec.model_copy(update={"decode_parameters": params, "callable": callable_now})

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check arguments against the schema; raise `ToolArgumentsError` saying what to fix.

        Optional arguments given as ``""`` or ``null`` count as left out: small models
        under a JSON grammar tend to fill every field, and an empty one means "not asked".
        """
        required = set(self.parameters.get("required", ()))
        asked = {k: v for k, v in arguments.items() if k in required or v not in ("", None)}
        # Counts below 1 are refused for errand's own writes; an outside API's integers mean
        # what it says they mean, so there its schema (and its own answer) decide.
        problems = strict_problems(
            asked, self.parameters, positive=self.risk != "read" and self.origin == "python"
        )
        validated, more = self._check(asked) if not problems else ({}, [])
        problems += more
        if problems:
            raise ToolArgumentsError(
                f"Invalid arguments for {self.name}: {'; '.join(problems)}. "
                f"Expected parameters: {json.dumps(self.parameters.get('properties', {}), ensure_ascii=False)}"
            )
        return validated

    def _check(self, arguments: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The arguments as the function takes them, or what is wrong with them (pydantic)."""
        try:
            model = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            return {}, [
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
            ]
        return {k: getattr(model, k) for k in type(model).model_fields}, []

    @property
    def confirm_needs_context(self) -> bool:
        """Whether `confirm_text` looks things up (price, account) and so needs a `ToolContext`."""
        return self._confirm_text is not None and len(inspect.signature(self._confirm_text).parameters) >= 2

    def describe_call(self, arguments: dict[str, Any], ctx: ToolContext | None = None) -> str:
        """Exactly what a call would do, in words, for a confirmation prompt.

        ``confirm_text`` is ``f(arguments)`` or, to show amounts it must look up,
        ``f(arguments, ctx)`` (read-only use of ``ctx.session``).
        """
        if self._confirm_text is not None:
            if self.confirm_needs_context:
                return self._confirm_text(arguments, ctx or ToolContext())
            return self._confirm_text(arguments)
        args = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
        return f"{self.name}({args})"

    @property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function."""
        return self._is_async

    def bind(self, validated: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Keyword arguments for the function: validated arguments plus the injected context."""
        kwargs = dict(validated)
        if self._ctx_param is not None:
            kwargs[self._ctx_param] = ctx
        return kwargs

    async def invoke(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        """Validate and run the tool; sync functions run in a worker thread."""
        kwargs = self.bind(self.validate(arguments), ctx)
        if self._is_async:
            return await self.fn(**kwargs)
        return await anyio.to_thread.run_sync(lambda: self.fn(**kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (tests, scripts)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r}, risk={self.risk!r}, domain={self.domain!r})"


class SchemaTool(Tool):
    """A tool described by a JSON schema instead of type hints (MCP and OpenAPI tools).

    ``fn`` is ``async def fn(arguments: dict, ctx: ToolContext) -> Any``; arguments are
    validated with ``jsonschema`` before it runs, and errors go back to the model.
    """

    def __init__(
        self,
        fn: Callable[[dict[str, Any], ToolContext], Awaitable[Any]],
        *,
        name: str,
        description: str,
        parameters: dict[str, Any],
        risk: Risk = "write",
        domain: str = "general",
        origin: str = "python",
        confirm_text: Callable[..., str] | None = None,
    ) -> None:
        self.fn = fn
        self.origin = origin
        self.name = name
        self.description = description or name
        self.risk = risk
        self.domain = domain
        self._confirm_text = confirm_text
        self._is_async = True
        self._ctx_param = "ctx"
        self.provenance = {}
        self.parameters = _compact_schema(parameters or {"type": "object", "properties": {}})
        self.editable = {}  # an outside tool's schema says nothing about what a person may change
        self._validator = jsonschema.Draft202012Validator(parameters or {"type": "object"})

    def _check(self, arguments: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The arguments unchanged, or what is wrong with them (jsonschema)."""
        problems = [
            f"{'.'.join(str(p) for p in e.absolute_path) or 'arguments'}: {e.message}"
            for e in sorted(self._validator.iter_errors(arguments), key=str)
        ]
        return arguments, problems

    def bind(self, validated: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """The function takes the arguments as one dict, plus the context."""
        return {"arguments": validated, "ctx": ctx}


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    risk: Risk = "read",
    domain: str = "general",
    confirm_text: Callable[..., str] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    risk: Risk = "read",
    domain: str = "general",
    confirm_text: Callable[..., str] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function into a `Tool`: ``@tool`` or ``@tool(risk="payment")``."""

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(
            f, name=name, description=description, risk=risk, domain=domain, confirm_text=confirm_text
        )

    if fn is not None:
        return wrap(fn)
    return wrap
