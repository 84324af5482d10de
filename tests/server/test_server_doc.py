"""The example of docs/server.md runs against a server (docs that cannot rot)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from errand.llm.scripted import ScriptedModel, call
from tests.server.conftest import ServeFactory

DOC = Path(__file__).resolve().parents[2] / "docs" / "server.md"


@pytest.mark.parametrize(
    "code", re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
)
def test_server_doc_examples_run(code: str, serve: ServeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    s = serve(
        model=ScriptedModel([call("wallet_balance"), "Your wallet balance is listed above."]), open_runs=True
    )
    monkeypatch.setenv("ERRAND_URL", s.v1)
    monkeypatch.setenv("ERRAND_KEY", s.key())
    namespace: dict[str, object] = {}
    # Only the example's output is captured (not with capsys: the runs layer's logging, set up
    # when the server starts, would keep writing to a capture that ends with the test).
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(code, str(DOC), "exec"), namespace)
    namespace["client"].close()  # type: ignore[attr-defined]
    assert out.getvalue().strip() == "Your wallet balance is listed above."
