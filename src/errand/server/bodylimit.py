"""A bound on request bodies, checked before they are read: a 413 that costs no memory.

A declared ``Content-Length`` over the limit is refused at once, unread; a body without one
(chunked) is read here as it arrives and refused the moment it passes the limit, so no route
ever holds more than the limit in memory.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from errand.errors import BodyTooLarge
from errand.server.errors import error_response


class BodyLimitMiddleware:
    """Answer 413 to a request whose body is over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            # The HTTP server holds the body to its declared length, so checking it is enough.
            if declared.isdigit() and int(declared) > self.max_bytes:
                await error_response(BodyTooLarge(self.max_bytes))(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No length (chunked): read it here, up to the limit, then hand it on.
        chunks: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await error_response(BodyTooLarge(self.max_bytes))(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)
