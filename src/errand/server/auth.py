"""Authentication: every route but health and the API's own description needs a valid key.

The middleware resolves ``Authorization: Bearer <key>`` to an `ApiKey` and puts it on the
request (``request.state.api_key``); routes act for that key's user only.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from errand.errors import AuthError
from errand.server.errors import error_response
from errand.server.keys import PREFIX, ApiKey, KeyStore

OPEN_PATHS = frozenset(
    {"/", "/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
"""Routes without a key: the web page, probes, and the API's description (they hold no one's data)."""

OPEN_PREFIX = "/web/"
"""The web page's files (`errand.web`): the page signs in with a key itself."""


def bearer(scope: Scope) -> str | None:
    """The key of ``Authorization: Bearer <key>``, if the request has one."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class AuthMiddleware:
    """Refuses requests without a valid key (401); puts the key on the request for the rest."""

    def __init__(self, app: ASGIApp, keys: KeyStore) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["path"].startswith(OPEN_PREFIX):
            await self.app(scope, receive, send)
            return
        token = bearer(scope)
        key: ApiKey | None = None
        if token and token.startswith(PREFIX) and len(token) < 200:
            cached = self.keys.cached(token)
            if cached is False:
                key = await asyncio.to_thread(self.keys.lookup, token)
            elif isinstance(cached, ApiKey):
                key = cached
        if key is None:
            reason = "is not valid (unknown or revoked)" if token else "is missing"
            exc = AuthError(
                f"The API key {reason}. Send 'Authorization: Bearer <key>'; `errand keys create --user NAME` "
                "makes one."
            )
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)


def current_key(request: Request) -> ApiKey:
    """The key the request was authenticated with."""
    key = request.scope.get("state", {}).get("api_key")
    if not isinstance(key, ApiKey):
        raise AuthError("The API key is missing. Send 'Authorization: Bearer <key>'.")
    return key
