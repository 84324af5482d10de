"""Image URLs a key holder sends are fetched only from public addresses, never by redirect."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from errand.config import Settings
from errand.runs import request
from errand.runs.request import ImageURLRefused, build_request, public_address

seen: list[dict[str, str]] = []


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        seen.append({"path": self.path, "host": self.headers.get("Host", "")})
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1/secret")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"internal secret")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    """A server on loopback: what an image URL must never reach."""
    seen.clear()
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://localhost:8080/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x.png",
        "http://192.168.0.1/x.png",
        "http://[::1]/x.png",
        "http://0.0.0.0/x.png",
    ],
)
def test_addresses_that_are_not_public_are_refused(url: str) -> None:
    with pytest.raises(ImageURLRefused, match="not a public internet address"):
        public_address(url)


def test_a_name_that_resolves_to_loopback_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))],
    )
    with pytest.raises(ImageURLRefused, match=r"images\.example\.com is not a public"):
        public_address("https://images.example.com/receipt.png")


def test_a_public_name_is_fetched_at_the_address_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))],
    )
    assert public_address("https://images.example.com/receipt.png") == ("images.example.com", "93.184.215.14")


def test_the_server_never_reaches_its_own_network(local_server: int) -> None:
    settings = Settings(ocr_fetch_urls=True)
    built = build_request(settings, "was I charged twice?", [f"http://127.0.0.1:{local_server}/receipt.png"])
    assert "not read" in built.text and "not a public internet address" in built.text
    assert seen == []  # nothing was asked of the loopback server
    assert "internal secret" not in built.text


def test_a_redirect_is_not_followed(local_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # The public address check is passed (as for a public host that redirects inward).
    monkeypatch.setattr(request, "public_address", lambda url: ("images.example.com", "127.0.0.1"))
    settings = Settings(ocr_fetch_urls=True)
    built = build_request(settings, "what is this?", [f"http://images.example.com:{local_server}/moved"])
    assert "redirect" in built.text
    assert seen == [{"path": "/moved", "host": f"images.example.com:{local_server}"}]
