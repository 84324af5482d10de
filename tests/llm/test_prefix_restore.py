"""The saved prefix of a tool set that was pruned from disk is rebuilt, not a crash.

Found through the gateway: after more than eight tool sets, a tool set seen before had its
file pruned; its key was remembered but its prefix text was not, and every such request
answered 500 (UnboundLocalError) until restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from errand.llm.embedded import EmbeddedModel
from errand.llm.types import Message, ToolSpec


def test_a_pruned_prefix_is_rendered_and_saved_again(tmp_path: Path) -> None:
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"GGUF")
    model = EmbeddedModel(weights, prefix_cache_dir=tmp_path / "prefixes")
    model.prefix_cache_dir.mkdir()  # type: ignore[union-attr]
    posts: list[str] = []

    def post(path: str, body: dict[str, Any]) -> tuple[int, str]:
        posts.append(path)
        if path.endswith("action=save"):
            (tmp_path / "prefixes" / body["filename"]).write_bytes(b"kv")
        return 200, "{}"

    model._post = post  # type: ignore[method-assign]
    model._stable_prefix = lambda messages, tools: "<system>"  # type: ignore[method-assign]
    messages = [Message(role="system", content="s"), Message(role="user", content="u")]
    tools = [ToolSpec(name="t", description="d", parameters={"type": "object"})]
    model._restore_prefix(messages, tools)
    saved = list((tmp_path / "prefixes").glob("prefix-*.bin"))
    assert len(saved) == 1
    saved[0].unlink()  # pruned by another tool set
    model._slot_prefix = None  # the slot now holds something else
    model._restore_prefix(messages, tools)
    assert posts.count("/completion") == 2 and len(list((tmp_path / "prefixes").glob("prefix-*.bin"))) == 1


def test_the_embedded_model_waits_as_long_as_the_run_may_take() -> None:
    """A cold prefix (tool schemas never evaluated) takes minutes on a slow CPU: the run's wall
    budget bounds it, not a server timeout meant for the network."""
    from errand.config import Settings
    from errand.llm import make_model

    slow = make_model(Settings(model_backend="embedded", request_timeout_s=120, max_wall_s=600))
    assert isinstance(slow, EmbeddedModel) and slow.request_timeout_s == 600
    quick = make_model(Settings(model_backend="embedded", request_timeout_s=120, max_wall_s=60))
    assert isinstance(quick, EmbeddedModel) and quick.request_timeout_s == 120
