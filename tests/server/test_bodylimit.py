"""Request bodies over the limit are refused with 413 before they are read into memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2 as httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from errand.server.bodylimit import BodyLimitMiddleware

read: list[int] = []


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    read.append(len(body))
    return JSONResponse({"bytes": len(body)})


app = BodyLimitMiddleware(Starlette(routes=[Route("/", echo, methods=["POST"])]), max_bytes=1000)


async def post(content: bytes | AsyncIterator[bytes]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/", content=content)


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    read.clear()
    r = await post(b"x" * 5000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert read == []  # the route never ran


async def test_a_chunked_body_is_cut_when_it_passes_the_limit() -> None:
    read.clear()
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(50):
            sent.append(1)
            yield b"y" * 100

    r = await post(chunks())
    assert r.status_code == 413 and read == []


async def test_a_body_within_the_limit_passes() -> None:
    r = await post(b"z" * 1000)
    assert r.status_code == 200 and r.json() == {"bytes": 1000}
