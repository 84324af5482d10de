"""Text in images, read on the CPU: the one OCR engine errand uses.

RapidOCR runs PaddleOCR's PP-OCRv6 detection and recognition models (Chinese and English in
one model) on ONNX Runtime. The models ship inside the ``rapidocr`` wheel; errand names their
files itself, so the engine never looks for a download. The engine loads once, on the first
image, and reads one image at a time (the process's other work keeps the other cores).

``data:`` URLs are made and read here too (`data_url`, `image_bytes`), so the CLI, the server
and the runs share one idea of what an attached image is.
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (a phone photo is about 12 million pixels)."""


class ImageDataError(ValueError):
    """The bytes or the URL are not an image errand can read; the message says why."""


@dataclass(frozen=True)
class OcrLine:
    """One line of text, left to right, as the engine read it."""

    text: str
    confidence: float
    """The recognizer's mean score for the line's pieces, 0 to 1."""


@dataclass(frozen=True)
class OcrResult:
    """What one image says, top to bottom."""

    lines: tuple[OcrLine, ...]
    seconds: float
    """Time spent reading it (not counting the engine's first load)."""

    @property
    def text(self) -> str:
        """The lines joined by newlines ("" when the image holds no text)."""
        return "\n".join(line.text for line in self.lines)


def data_url(data: bytes) -> str:
    """``data:image/...;base64,...`` for an image file's bytes (`ImageDataError` if not an image)."""
    mime = _mime(data)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_bytes(url: str) -> bytes:
    """The image inside a ``data:image/...;base64,`` URL (`ImageDataError` if it holds none)."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
        raise ImageDataError("an image must be a data:image/...;base64, URL")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageDataError("the data URL's base64 is damaged") from None
    _mime(data)
    return data


def read_image(data: bytes) -> OcrResult:
    """The text in an image file's bytes (PNG, JPEG, WebP, ...), lines top to bottom.

    Blocking (about a second or two on a laptop core); call it in a thread from async code.
    """
    _mime(data)
    engine = _engine()
    start = time.perf_counter()
    with _lock:
        out = engine(data)
    boxes: Any = getattr(out, "boxes", None)
    texts: tuple[str, ...] = tuple(getattr(out, "txts", None) or ())
    scores: tuple[float, ...] = tuple(getattr(out, "scores", None) or ())
    if boxes is None or not texts:
        return OcrResult(lines=(), seconds=time.perf_counter() - start)
    pieces = [
        _Piece(
            text=t,
            score=float(s),
            top=float(min(p[1] for p in box)),
            bottom=float(max(p[1] for p in box)),
            left=float(min(p[0] for p in box)),
        )
        for box, t, s in zip(boxes, texts, scores, strict=True)
        if t.strip()
    ]
    return OcrResult(lines=tuple(_rows(pieces)), seconds=time.perf_counter() - start)


@dataclass(frozen=True)
class _Piece:
    text: str
    score: float
    top: float
    bottom: float
    left: float


def _rows(pieces: list[_Piece]) -> list[OcrLine]:
    """Pieces on the same row (a label and its amount on a receipt) joined into one line."""
    rows: list[list[_Piece]] = []
    for piece in sorted(pieces, key=lambda p: (p.top + p.bottom) / 2):
        middle = (piece.top + piece.bottom) / 2
        row = rows[-1] if rows else None
        if row is not None and row[0].top <= middle <= row[0].bottom:
            row.append(piece)
        else:
            rows.append([piece])
    lines = []
    for row in rows:
        row.sort(key=lambda p: p.left)
        text = "  ".join(p.text.strip() for p in row)
        lines.append(OcrLine(text=text, confidence=sum(p.score for p in row) / len(row)))
    return lines


def _mime(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if img.width * img.height > MAX_PIXELS:
                raise ImageDataError(f"the image is {img.width}x{img.height}, over {MAX_PIXELS:,} pixels")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ImageDataError("not an image file (PNG, JPEG, WebP, GIF or BMP)") from None
    mime = Image.MIME.get(fmt or "")
    if not mime or not mime.startswith("image/"):
        raise ImageDataError(f"not an image file errand reads ({fmt})")
    return mime


_lock = threading.Lock()
_loaded: Any = None


def _engine() -> Any:
    """The RapidOCR engine, built on first use (one per process, under the lock)."""
    global _loaded
    with _lock:
        if _loaded is None:
            import rapidocr

            models = Path(rapidocr.__file__).parent / "models"
            _loaded = rapidocr.RapidOCR(
                params={
                    "Global.log_level": "error",
                    # The files shipped in the wheel, by name: with a path given the engine
                    # never resolves a model by URL (it downloads nothing).
                    "Det.model_path": str(models / "PP-OCRv6_det_small.onnx"),
                    "Rec.model_path": str(models / "PP-OCRv6_rec_small.onnx"),
                    "Cls.model_path": str(models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
                }
            )
        return _loaded
