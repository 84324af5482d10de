"""A run's request as the model will get it: the words, and what the attached images say.

Every entry point builds its request here once (the runs API and ``errand run`` through
`Runs.create`, ``errand run --in-memory``, ``errand chat`` and the server's ``errand``
model directly), so an image is read the same way wherever it came from. A model that reads
images gets them as image parts; any other model gets each image's text, read by OCR,
appended to the request and marked as such, and keeps the images it read as attachments,
which the agent's ``read_image`` action reads again (`errand.agent.attachments`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2 as httpx

from errand.config import Settings
from errand.errors import RunInputError
from errand.llm.ocr import ImageDataError, data_url, image_bytes, read_image

MAX_FETCH_BYTES = 20_000_000
"""Most bytes fetched for one http(s) image (with ``ERRAND_OCR_FETCH_URLS``)."""


@dataclass(frozen=True)
class RunRequest:
    """What the agent is asked: the text, and the images it sends as image parts."""

    text: str
    images: tuple[str, ...] = ()
    """Only for a model that reads images; otherwise their text is already in ``text``."""
    attachments: tuple[str, ...] = ()
    """For any other model: each image as a data URL, numbered as ``text``'s notes number them
    ("" for an http(s) image that was not fetched), for ``read_image``. A fetched image is kept
    within the fetch's own limit (`MAX_FETCH_BYTES`); a data URL is kept as it came."""


def check_images(images: Sequence[str]) -> None:
    """Refuse an image that is neither a ``data:image/`` nor an http(s) URL."""
    bad = [u[:40] for u in images if not u.startswith(("data:image/", "https://", "http://"))]
    if bad:
        raise RunInputError(f"Images must be data:image/... or http(s) URLs; got {bad}.")


def build_request(settings: Settings, text: str, images: Sequence[str] = ()) -> RunRequest:
    """The request with its images read (blocking: OCR takes a second or two per image).

    `RunInputError` for an image URL that is not allowed or a data URL that holds no image.
    """
    check_images(images)
    if not images:
        return RunRequest(text=text)
    if settings.model_accepts_images:
        return RunRequest(text=text, images=tuple(images))
    read = [_image_note(i, url, settings) for i, url in enumerate(images, 1)]
    notes = [note for note, _ in read]
    kept = tuple(url for _, url in read)
    return RunRequest(text="\n\n".join([text.rstrip(), *notes]), attachments=kept if any(kept) else ())


def _image_note(number: int, url: str, settings: Settings) -> tuple[str, str]:
    """The image's note for the request, and the image as a data URL ("" when not read)."""
    if url.startswith("data:"):
        try:
            data = image_bytes(url)
        except ImageDataError as exc:
            raise RunInputError(f"Image {number} cannot be read: {exc}.") from None
    elif not settings.ocr_fetch_urls:
        return (
            f"[Image {number}, {url[:200]}: not read (errand reads images sent as data URLs; "
            "ERRAND_OCR_FETCH_URLS=true lets it fetch http(s) images)]",
            "",
        )
    else:
        try:
            data = _fetch(url)
        except (httpx.HTTPError, ImageDataError, ImageURLRefused) as exc:
            return f"[Image {number}, {url[:200]}: not read ({exc})]", ""
    try:
        text = read_image(data).text
    except ImageDataError as exc:
        raise RunInputError(f"Image {number} cannot be read: {exc}.") from None
    kept = url if url.startswith("data:") else data_url(data)
    if not text:
        return f"[Image {number}: OCR found no text in it]", kept
    return f"[Image {number}, text read by OCR:\n{text}\n]", kept


class ImageURLRefused(Exception):
    """An image URL errand will not fetch: it names no public internet address."""


def public_address(url: str) -> tuple[str, str]:
    """The host of ``url`` and one public address it resolves to.

    A key holder's image URL must not make the server reach what only it can reach (its own
    loopback, the private network, a cloud's metadata address): every address the name
    resolves to must be global, and the fetch then goes to the address checked here, so a
    second lookup cannot answer differently (DNS rebinding)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise ImageURLRefused("the URL names no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ImageURLRefused(f"{host} does not resolve ({exc.strerror or exc})") from None
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    private = sorted(str(a) for a in addresses if not a.is_global)
    if not addresses or private:
        raise ImageURLRefused(f"{host} is not a public internet address ({', '.join(private)})")
    return host, str(min(addresses, key=lambda a: (a.version, str(a))))


def _fetch(url: str) -> bytes:
    """The image's bytes, fetched from the public address checked for it, without redirects
    (a redirect could point anywhere); at most `MAX_FETCH_BYTES`."""
    host, address = public_address(url)
    parts = urlsplit(url)
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    direct = parts._replace(netloc=netloc).geturl()
    with (
        httpx.Client(timeout=10.0, follow_redirects=False) as client,
        client.stream(
            "GET",
            direct,
            headers={"Host": parts.netloc.rsplit("@", 1)[-1]},
            extensions={"sni_hostname": host},
        ) as r,
    ):
        if r.is_redirect:
            raise ImageDataError(
                f"the server answered with a redirect ({r.status_code}); send the image's own URL"
            )
        r.raise_for_status()
        data = bytearray()
        for chunk in r.iter_bytes():
            data += chunk
            if len(data) > MAX_FETCH_BYTES:
                raise ImageDataError(f"over {MAX_FETCH_BYTES:,} bytes")
    return bytes(data)
