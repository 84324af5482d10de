"""The web page of ``errand serve``: one HTML page, its CSS and ES modules, with no build step.

The files are package data under ``static/``. The page is a client of the same ``/v1`` API as
any other (it signs in with an API key, kept in the browser), so serving it needs no key and
exposes no one's data; see ``docs/web.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
"""The page's files."""

SECURITY_HEADERS = {
    # Only the page's own scripts and styles; charts arrive as blob: URLs, attachments as data: URLs.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
"""Sent with the page: no script but the page's own can run, and it cannot be framed."""


class _Files(StaticFiles):
    """Static files that browsers revalidate (an upgraded server serves its new scripts at once)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


async def _index() -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


def install(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files under ``/web/`` (left out of the API's description)."""
    app.add_api_route("/", _index, methods=["GET"], include_in_schema=False)
    app.mount("/web", _Files(directory=STATIC), name="web")
