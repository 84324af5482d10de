"""Examples in the README run (FastAPI's habit): docs that cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_opens_with_the_two_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert "pip install -e . && errand run" in blocks[0]
    assert "pip install -e '.[test]' && scripts/check" in blocks[1]
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && scripts/check" in ci


@pytest.mark.parametrize("code", python_blocks())
def test_readme_python_examples_run(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, str(README), "exec"), {})
    assert "HZ-00001" in capsys.readouterr().out


TOOLS_DOC = README.parent / "docs" / "tools.md"


@pytest.mark.parametrize(
    "code", re.findall(r"```python\n(.*?)```", TOOLS_DOC.read_text(encoding="utf-8"), re.DOTALL)
)
def test_tools_doc_examples_run(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, str(TOOLS_DOC), "exec"), {})
    assert capsys.readouterr().out.strip()
