"""OpenAPI tools against a real FastAPI inventory API on loopback, and against hand-written specs."""

from __future__ import annotations

import json
import re
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx2 as httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator

from errand.agent import Agent, approve_all
from errand.agent.events import ConfirmationRequired, RunFailed, RunFinished, ToolResultEvent
from errand.errors import ConfigError, ToolError
from errand.llm.scripted import ScriptedModel, call
from errand.tools import SchemaTool, ToolContext, ToolRegistry
from errand.tools.config import OpenAPIConfig, load_tools_config
from errand.tools.openapi import load_openapi_tools

TOKEN = "inventory-test-token"

# -- the inventory API -------------------------------------------------------------------------------


class Tag(BaseModel):
    """A label on an item."""  # a separate model: the spec refers to it by reference

    name: str = Field(min_length=1)


class NewItem(BaseModel):
    name: str = Field(description="What the item is called.")
    quantity: int = Field(description="How many are in stock.")
    tags: list[Tag] = Field(default_factory=list)

    @field_validator("quantity")
    @classmethod
    def _positive(cls, value: int) -> int:
        # A rule the schema does not state, so only the API itself can refuse it (422).
        if value <= 0:
            raise ValueError("quantity must be positive")
        return value


class Item(NewItem):
    id: int
    warehouse: str


stock: dict[int, Item] = {}
seen: list[tuple[str, str, str]] = []
"""(method, path, Authorization header) of every request the API received."""

app = FastAPI(title="Inventory")


@app.middleware("http")
async def record(request: Request, call_next: Any) -> Response:
    seen.append((request.method, request.url.path, request.headers.get("authorization", "")))
    response: Response = await call_next(request)
    return response


def authorised(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))],
) -> None:
    if credentials is None or credentials.credentials != TOKEN:
        raise HTTPException(status_code=401, detail="Invalid or missing bearer token")


@app.get("/items", operation_id="list_items", summary="List items", dependencies=[Depends(authorised)])
def list_items(
    name_contains: str | None = None,
    x_warehouse: Annotated[str | None, Header()] = None,
) -> list[Item]:
    """Items in stock, optionally filtered by name and warehouse."""
    return [
        i
        for i in stock.values()
        if (name_contains is None or name_contains in i.name) and x_warehouse in (None, i.warehouse)
    ]


@app.get("/items/{item_id}", summary="Get one item", dependencies=[Depends(authorised)])
def get_item(item_id: int) -> Item:
    if item_id not in stock:
        raise HTTPException(status_code=404, detail=f"Item {item_id} not found")
    return stock[item_id]


@app.post(
    "/items",
    operation_id="create_item",
    summary="Add an item",
    status_code=201,
    dependencies=[Depends(authorised)],
)
def create_item(item: NewItem, x_warehouse: Annotated[str, Header()] = "main") -> Item:
    created = Item(id=len(stock) + 1, warehouse=x_warehouse, **item.model_dump())
    stock[created.id] = created
    return created


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    """The app served by uvicorn in a thread, on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", ws="none", http="h11", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(autouse=True)
def _fresh_stock(monkeypatch: pytest.MonkeyPatch) -> None:
    stock.clear()
    stock[1] = Item(id=1, name="wood screw", quantity=500, warehouse="main", tags=[Tag(name="metal")])
    seen.clear()
    monkeypatch.setenv("INVENTORY_TOKEN", TOKEN)


@pytest.fixture
async def tools(api_url: str) -> dict[str, SchemaTool]:
    config = OpenAPIConfig(spec=f"{api_url}/openapi.json", bearer_token_env="INVENTORY_TOKEN")
    return {t.name: t for t in await load_openapi_tools("inventory", config)}


def results(events: list[Any]) -> list[ToolResultEvent]:
    return [e for e in events if isinstance(e, ToolResultEvent)]


# -- the live API ------------------------------------------------------------------------------------


async def test_operations_become_tools_with_refs_resolved(tools: dict[str, SchemaTool]) -> None:
    assert list(tools) == ["list_items", "create_item", "get_item_items__item_id__get"]
    assert {n: t.risk for n, t in tools.items()} == {
        "list_items": "read",
        "get_item_items__item_id__get": "read",
        "create_item": "write",
    }
    assert {t.origin for t in tools.values()} == {t.domain for t in tools.values()} == {"openapi:inventory"}
    assert tools["list_items"].description.startswith("List items. Items in stock")

    create = tools["create_item"].parameters
    assert "$ref" not in json.dumps(create)
    # The NewItem body is flattened next to the header parameter; Tag is inlined from its $ref.
    assert set(create["properties"]) == {"x-warehouse", "name", "quantity", "tags"}
    assert sorted(create["required"]) == ["name", "quantity"]
    assert create["properties"]["quantity"] == {"type": "integer", "description": "How many are in stock."}
    tag = create["properties"]["tags"]["items"]
    assert tag["type"] == "object" and tag["properties"]["name"] == {"type": "string", "minLength": 1}

    get = tools["get_item_items__item_id__get"].parameters
    assert get["properties"] == {"item_id": {"type": "integer"}} and get["required"] == ["item_id"]


async def test_agent_lists_and_creates_items_through_the_api(tools: dict[str, SchemaTool]) -> None:
    model = ScriptedModel(
        [
            call("list_items", name_contains="screw"),
            call(
                "create_item",
                name="hex bolt",
                quantity=40,
                tags=[{"name": "metal"}],
                **{"x-warehouse": "east"},
            ),
            call("get_item_items__item_id__get", item_id=2),
            "Added 40 hex bolts (item 2) in the east warehouse.",
        ]
    )
    agent = Agent(model, ToolRegistry(tools.values()), approver=approve_all)
    events = [e async for e in agent.stream("List the screws, then add 40 hex bolts to the east warehouse")]

    final = events[-1]
    assert isinstance(final, RunFinished), final
    listed, created, fetched = results(events)
    assert listed.ok and json.loads(listed.content)[0]["name"] == "wood screw"
    assert created.ok and json.loads(created.content)["id"] == 2
    assert fetched.ok and json.loads(fetched.content)["warehouse"] == "east"
    # The item really exists in the app, as asked.
    assert stock[2] == Item(id=2, name="hex bolt", quantity=40, warehouse="east", tags=[Tag(name="metal")])
    # The person approving saw exactly the request that was sent.
    (confirmation,) = [e for e in events if isinstance(e, ConfirmationRequired)]
    assert confirmation.summary.startswith("POST http://127.0.0.1:")
    assert confirmation.summary.endswith(
        '/items (inventory API) with {"name": "hex bolt", "quantity": 40, "tags": [{"name": "metal"}]}'
    )


async def test_a_422_reaches_the_model_as_a_readable_error(tools: dict[str, SchemaTool]) -> None:
    model = ScriptedModel(
        [call("create_item", name="hex bolt", quantity=-5), "The quantity must be positive."]
    )
    events = [
        e
        async for e in Agent(model, ToolRegistry(tools.values()), approver=approve_all).stream("add -5 bolts")
    ]
    (result,) = results(events)
    assert not result.ok
    assert "POST /items returned 422: quantity: Value error, quantity must be positive" in result.content
    shown = model.requests[1][0][-1]
    assert shown.role == "tool" and "quantity must be positive" in shown.text
    assert ("POST", "/items", f"Bearer {TOKEN}") in seen and list(stock) == [1]


async def test_a_write_without_approval_never_reaches_the_api(tools: dict[str, SchemaTool]) -> None:
    model = ScriptedModel([call("create_item", name="hex bolt", quantity=40), "never"])
    final = await Agent(model, ToolRegistry(tools.values())).run("add 40 hex bolts")
    assert isinstance(final, RunFailed) and final.kind == "confirmation_required"
    assert "create_item needs approval: POST http://127.0.0.1:" in final.reason
    assert not [s for s in seen if s[0] == "POST"] and list(stock) == [1]


async def test_the_bearer_token_comes_from_the_environment(
    api_url: str, tools: dict[str, SchemaTool], monkeypatch: pytest.MonkeyPatch
) -> None:
    await tools["list_items"].invoke({}, ToolContext())
    assert seen[-1] == ("GET", "/items", f"Bearer {TOKEN}")

    monkeypatch.setenv("INVENTORY_TOKEN", "wrong")
    config = OpenAPIConfig(spec=f"{api_url}/openapi.json", bearer_token_env="INVENTORY_TOKEN")
    wrong = {t.name: t for t in await load_openapi_tools("inventory", config)}
    with pytest.raises(ToolError, match=r"^GET /items returned 401: Invalid or missing bearer token$"):
        await wrong["list_items"].invoke({}, ToolContext())

    monkeypatch.delenv("INVENTORY_TOKEN")
    with pytest.raises(ConfigError, match="INVENTORY_TOKEN, which is not set"):
        await load_openapi_tools("inventory", config)


async def test_http_errors_name_the_request(tools: dict[str, SchemaTool]) -> None:
    with pytest.raises(ToolError, match=r"^GET /items/99 returned 404: Item 99 not found$"):
        await tools["get_item_items__item_id__get"].invoke({"item_id": 99}, ToolContext())
    filtered = await tools["list_items"].invoke({"x-warehouse": "east"}, ToolContext())
    assert filtered == []


# -- hand-written specs: YAML, external refs, OpenAPI 3.0, request building --------------------------

SPEC = """\
openapi: 3.0.3
info: {title: Depot, version: "1"}
servers:
  - url: https://{host}/v1
    variables: {host: {default: depot.example}}
paths:
  /stock/{sku}:
    parameters:
      - {name: sku, in: path, required: true, schema: {type: string}, description: Stock-keeping unit.}
    put:
      operationId: update-stock.level
      summary: Set the stock level
      parameters:
        - {name: dry_run, in: query, schema: {type: boolean}}
        - {name: X-Trace, in: header, schema: {type: string}}
        - {name: Authorization, in: header, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Level'}
      responses: {'200': {description: ok}}
    delete:
      responses: {'204': {description: gone}}
  /search:
    post:
      operationId: search
      requestBody:
        content:
          application/json:
            schema: {type: array, items: {$ref: 'common.yaml#/Tag'}}
      responses: {'200': {description: ok}}
  /notes:
    post:
      operationId: add_note
      parameters:
        - {name: note, in: query, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Level'}
      responses: {'200': {description: ok}}
  /photos:
    post:
      operationId: upload_photo
      requestBody:
        content:
          multipart/form-data:
            schema: {type: object, properties: {file: {type: string, format: binary}}}
      responses: {'200': {description: ok}}
  /tree:
    get:
      operationId: tree
      parameters:
        - {$ref: '#/components/parameters/Depth'}
      responses: {'200': {description: ok}}
components:
  parameters:
    Depth: {name: depth, in: query, schema: {$ref: '#/components/schemas/Node'}}
  schemas:
    Level:
      type: object
      required: [quantity]
      properties:
        id: {type: integer, readOnly: true}
        quantity: {type: integer, minimum: 0, exclusiveMinimum: true, example: 3}
        note: {type: string, nullable: true}
        example: {type: string}
        tag: {$ref: 'common.yaml#/Tag'}
    Node:
      type: object
      properties:
        children: {type: array, items: {$ref: '#/components/schemas/Node'}}
"""

COMMON = """\
Tag:
  type: object
  properties:
    label: {type: string}
"""


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    (tmp_path / "common.yaml").write_text(COMMON, encoding="utf-8")
    path = tmp_path / "depot.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


async def test_a_yaml_file_with_external_refs_and_openapi_30_keywords(spec_file: Path) -> None:
    config = OpenAPIConfig(spec=str(spec_file), risk={"search": "read", "delete_stock_sku": "payment"})
    tools = {t.name: t for t in await load_openapi_tools("depot", config)}
    # operationIds are sanitised, a missing one becomes method_path, a multipart upload is left out.
    assert {n: t.risk for n, t in tools.items()} == {
        "update_stock_level": "write",
        "delete_stock_sku": "payment",
        "search": "read",
        "add_note": "write",
        "tree": "read",
    }
    update = tools["update_stock_level"].parameters
    # Authorization and cookie parameters are not arguments; readOnly `id` is not sent.
    assert list(update["properties"]) == ["sku", "dry_run", "X-Trace", "quantity", "note", "example", "tag"]
    assert update["required"] == ["sku", "quantity"]
    assert update["properties"]["sku"]["description"] == "Stock-keeping unit."
    assert update["properties"]["quantity"] == {"type": "integer", "exclusiveMinimum": 0}
    assert update["properties"]["note"] == {"type": ["string", "null"]}
    assert update["properties"]["tag"]["properties"] == {"label": {"type": "string"}}
    # An array body cannot be flattened: it is one `body` argument.
    assert tools["search"].parameters["properties"]["body"]["items"]["properties"] == {
        "label": {"type": "string"}
    }
    # A body whose property names clash with a parameter (`note`) is not flattened either.
    note = tools["add_note"].parameters
    assert list(note["properties"]) == ["note", "body"] and note["required"] == ["body"]
    assert note["properties"]["body"]["required"] == ["quantity"]
    # A schema that contains itself stops at the second level instead of looping.
    children = tools["tree"].parameters["properties"]["depth"]["properties"]["children"]
    assert children["items"] == {"description": "(recursive: Node)"}

    with pytest.raises(ToolError, match="quantity: 0 is less than or equal to the minimum of 0"):
        tools["update_stock_level"].validate({"sku": "A", "quantity": 0})


async def test_calls_build_the_request_from_the_arguments(
    spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.method == "DELETE":
            return httpx.Response(409, json={"title": "Conflict", "detail": "SKU has open orders"})
        if request.method == "GET":
            return httpx.Response(204)
        return httpx.Response(200, json={"ok": True})

    monkeypatch.setenv("DEPOT_KEY", "k-123")
    config = OpenAPIConfig(spec=str(spec_file), headers={"X-Api-Key": "${DEPOT_KEY}"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        tools = {t.name: t for t in await load_openapi_tools("depot", config, client=client)}
        update = tools["update_stock_level"]
        args = {
            "sku": "A/7 b",
            "dry_run": True,
            "X-Trace": "t1",
            "quantity": 5,
            "note": None,
            "tag": {"label": "x"},
        }
        assert update.describe_call(args) == (
            "PUT https://depot.example/v1/stock/A%2F7%20b?dry_run=true (depot API) "
            'with {"quantity": 5, "note": null, "tag": {"label": "x"}}'
        )
        assert await update.invoke(args, ToolContext()) == {"ok": True}
        request = sent[-1]
        assert str(request.url) == "https://depot.example/v1/stock/A%2F7%20b?dry_run=true"
        assert request.headers["X-Trace"] == "t1" and request.headers["X-Api-Key"] == "k-123"
        # `note: None` counts as left out (SchemaTool drops empty optional arguments).
        assert json.loads(request.content) == {"quantity": 5, "tag": {"label": "x"}}

        assert await tools["tree"].invoke({}, ToolContext()) == {"status": 204}
        with pytest.raises(ToolError, match=r"^DELETE /stock/A returned 409: Conflict: SKU has open orders$"):
            await tools["delete_stock_sku"].invoke({"sku": "A"}, ToolContext())
        await tools["search"].invoke({"body": [{"label": "red"}]}, ToolContext())
        assert json.loads(sent[-1].content) == [{"label": "red"}]


async def test_a_path_argument_is_one_segment_of_its_path(spec_file: Path) -> None:
    """The model fills a path in, but cannot leave it: ``/`` is escaped, and ``.`` or ``..``
    (which the HTTP client folds away: /v1/stock/.. is /v1) is refused before any request."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    config = OpenAPIConfig(spec=str(spec_file))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        tools = {t.name: t for t in await load_openapi_tools("depot", config, client=client)}
        for sku in ("..", "."):
            with pytest.raises(ToolError, match=rf"^sku cannot be '{re.escape(sku)}'"):
                await tools["delete_stock_sku"].invoke({"sku": sku}, ToolContext())
        assert sent == []
        for sku, path in (
            ("../admin", "/v1/stock/..%2Fadmin"),
            ("...", "/v1/stock/..."),
            ("a.b", "/v1/stock/a.b"),
        ):
            await tools["delete_stock_sku"].invoke({"sku": sku}, ToolContext())
            assert sent[-1].url.raw_path.decode() == path


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            httpx.ConnectError("Connection refused"),
            "The depot API at https://depot.example/v1 is unreachable",
        ),
        (httpx.ReadTimeout("timed out"), "did not answer PUT /stock/A within 2 s"),
    ],
)
async def test_network_failures_are_tool_errors(spec_file: Path, error: Exception, message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    config = OpenAPIConfig(spec=str(spec_file), timeout_s=2)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        tools = {t.name: t for t in await load_openapi_tools("depot", config, client=client)}
        with pytest.raises(ToolError, match=message):
            await tools["update_stock_level"].invoke({"sku": "A", "quantity": 1}, ToolContext())


async def test_an_api_that_is_down_is_a_tool_error(spec_file: Path) -> None:
    port = _closed_port()
    tools = await load_openapi_tools(
        "depot", OpenAPIConfig(spec=str(spec_file), base_url=f"http://127.0.0.1:{port}")
    )
    with pytest.raises(ToolError, match=f"The depot API at http://127.0.0.1:{port} is unreachable"):
        await tools[0].invoke({"sku": "A", "quantity": 1}, ToolContext())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"spec": "missing.yaml"},
            "Cannot read the OpenAPI spec of [openapi.depot] at missing.yaml: No such file",
        ),
        ({"headers": {"X-Api-Key": "${NO_SUCH_VAR}"}}, "NO_SUCH_VAR is not set in the environment"),
        ({"risk": {"nope": "read"}}, "[openapi.depot] sets a risk for nope, which the spec does not define"),
        (
            {"spec": "http://127.0.0.1:{port}/openapi.json"},
            "Cannot fetch the OpenAPI spec of [openapi.depot]",
        ),
        ({"spec": "{dir}/common.yaml"}, "is not an OpenAPI document"),
        ({"spec": "{dir}/broken.yaml"}, "has a $ref errand cannot resolve"),
        ({"spec": "{dir}/bad.yaml"}, "is neither JSON nor YAML"),
        ({"spec": "{dir}/nohost.yaml"}, "[openapi.depot] needs `base_url`"),
    ],
)
async def test_configuration_problems_are_one_clear_line(
    spec_file: Path, change: dict[str, Any], message: str
) -> None:
    folder = spec_file.parent
    (folder / "broken.yaml").write_text(
        SPEC.replace("common.yaml#/Tag", "common.yaml#/Nope"), encoding="utf-8"
    )
    (folder / "bad.yaml").write_text("openapi: [unclosed", encoding="utf-8")
    (folder / "nohost.yaml").write_text(
        textwrap.dedent(SPEC).replace("https://{host}/v1", "/v1"), encoding="utf-8"
    )
    fields: dict[str, Any] = {"spec": str(spec_file), **change}
    fields["spec"] = fields["spec"].format(dir=folder, port=_closed_port())
    with pytest.raises(ConfigError) as info:
        await load_openapi_tools("depot", OpenAPIConfig.model_validate(fields))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_documented_configuration_is_valid(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "tools.md").read_text(encoding="utf-8")
    section = doc.split("## OpenAPI APIs", 1)[1].split("\n## ", 1)[0]
    (toml,) = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)
    path = tmp_path / "errand.toml"
    path.write_text(toml, encoding="utf-8")
    api = load_tools_config(path).openapi["inventory"]
    assert api.bearer_token_env == "INVENTORY_TOKEN" and api.risk == {"search_items": "read"}
    assert api.headers == {"X-Tenant": "${TENANT_ID}"}
