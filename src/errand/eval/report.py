"""Reports of a suite run: the summary table, a Markdown and a JSON file, and a PNG chart.

Rows group attempts by domain and difficulty; each row gives pass^1, pass^k, and the mean
steps, tokens and wall time per attempt, and for a reasoning model the tokens it wrote per step
as thinking against answer. Failures keep their transcript and the checks that failed, so a
report says why, not only how often.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from errand.agent.prompts import in_chinese
from errand.eval.passk import pass_hat_k
from errand.eval.runner import Attempt
from errand.eval.tasks import DIFFICULTIES

ALL = "all"


@dataclass(frozen=True)
class Meta:
    """What was run: shown at the top of every report."""

    suite: str
    model: str
    k: int
    n: int
    replay: bool
    started: str
    """ISO time the run started."""
    duration_s: float
    jobs: int
    timeout_s: float
    tasks: int
    selection: str = ""
    """The --tasks pattern, if any."""


@dataclass(frozen=True)
class Row:
    """One line of the summary: a domain, a difficulty, or both (``all`` for any)."""

    domain: str
    difficulty: str
    tasks: int
    attempts: int
    passed: int
    pass1: float
    passk: float
    steps: float
    tokens: float
    wall_s: float
    thinking: float = 0.0
    """Tokens of thinking per model step (0 for a model that does not think)."""
    answer: float = 0.0
    """Tokens of answer (text or tool calls) per model step."""


def _row(domain: str, difficulty: str, attempts: Sequence[Attempt], k: int) -> Row:
    per_task: dict[str, list[bool]] = {}
    for a in attempts:
        per_task.setdefault(a.task_id, []).append(a.passed)
    counts = [(sum(v), len(v)) for v in per_task.values()]
    n = len(attempts) or 1
    steps = sum(a.steps for a in attempts) or 1
    return Row(
        domain=domain,
        difficulty=difficulty,
        tasks=len(per_task),
        attempts=len(attempts),
        passed=sum(a.passed for a in attempts),
        pass1=pass_hat_k(counts, 1),
        passk=pass_hat_k(counts, k) if all(c[1] >= k for c in counts) else float("nan"),
        steps=sum(a.steps for a in attempts) / n,
        tokens=sum(a.tokens for a in attempts) / n,
        wall_s=sum(a.wall_s for a in attempts) / n,
        thinking=sum(a.reasoning_tokens for a in attempts) / steps,
        answer=sum(max(0, a.completion_tokens - a.reasoning_tokens) for a in attempts) / steps,
    )


def summarize(attempts: Sequence[Attempt], k: int) -> list[Row]:
    """Rows per domain × difficulty, per domain, per difficulty, and one for everything (last)."""
    domains = list(dict.fromkeys(a.domain for a in attempts))
    levels = [d for d in DIFFICULTIES if any(a.difficulty == d for a in attempts)]
    rows = []
    for dom in domains:
        mine = [a for a in attempts if a.domain == dom]
        for lvl in levels:
            some = [a for a in mine if a.difficulty == lvl]
            if some:
                rows.append(_row(dom, lvl, some, k))
        rows.append(_row(dom, ALL, mine, k))
    for lvl in levels:
        rows.append(_row(ALL, lvl, [a for a in attempts if a.difficulty == lvl], k))
    rows.append(_row(ALL, ALL, attempts, k))
    return rows


def cause(a: Attempt) -> str:
    """A short label for why an attempt failed, for counting the common causes."""
    if a.failure:
        m = re.match(r"(run failed \(\w+\)|timed out|setup failed|error: \w+)", a.failure)
        return m.group(1) if m else a.failure[:40]
    failed = a.failed_checks
    if not failed:
        return "passed" if a.passed else "failed"
    name = failed[0].name
    if name.startswith("answer"):
        return "answer misses a fact"
    if name.endswith("not called"):
        return "called a forbidden tool"
    if "balance" in name or "money" in name:
        return "wrong money movement"
    if "row(s) in" in name:
        return "wrong rows (booking/order not made, or made wrongly)"
    return name


def causes(attempts: Sequence[Attempt]) -> list[tuple[str, int]]:
    """Failure causes, most common first."""
    return Counter(cause(a) for a in attempts if not a.passed).most_common()


def by_kind(attempts: Sequence[Attempt], k: int) -> list[Row]:
    """One row per kind of errand (lookup, recommend, errand, change, refuse, ask)."""
    kinds = list(dict.fromkeys(a.category for a in attempts))
    return [_row(ALL, kind, [a for a in attempts if a.category == kind], k) for kind in kinds]


def language_matches(attempts: Sequence[Attempt]) -> tuple[int, int]:
    """(answers in the request's language, attempts that answered): a Chinese request is
    answered in Chinese, any other in a language that is not."""
    matched = answered = 0
    for a in attempts:
        request = next((e["user"] for e in a.transcript if "user" in e), "")
        if not a.answers or not request:
            continue
        answered += 1
        matched += in_chinese(request) == in_chinese(a.answers[-1])
    return matched, answered


def _pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.1f}%"


def _thinks(rows: Sequence[Row]) -> bool:
    """Whether the model thought at all: only then are thinking and answer tokens shown."""
    return any(r.thinking for r in rows)


def table(rows: Sequence[Row], k: int, title: str = "") -> Table:
    """The summary as a rich table for the terminal."""
    t = Table(title=title or None, title_justify="left")
    thinks = _thinks(rows)
    cols = ["domain", "difficulty", "tasks", "pass^1", f"pass^{k}", "steps", "tokens", "wall s"]
    for col in cols + (["thinking/step", "answer/step"] if thinks else []):
        t.add_column(col, justify="left" if col in ("domain", "difficulty") else "right")
    for r in rows:
        style = (
            "bold"
            if r.domain == ALL and r.difficulty == ALL
            else ("dim" if ALL in (r.domain, r.difficulty) else None)
        )
        t.add_row(
            r.domain,
            r.difficulty,
            str(r.tasks),
            _pct(r.pass1),
            _pct(r.passk),
            f"{r.steps:.1f}",
            f"{r.tokens:,.0f}",
            f"{r.wall_s:.1f}",
            *([f"{r.thinking:,.0f}", f"{r.answer:,.0f}"] if thinks else []),
            style=style,
        )
    return t


def transcript_lines(a: Attempt) -> list[str]:
    """An attempt's conversation, one line per event, for people."""
    lines = []
    for e in a.transcript:
        if "user" in e:
            lines.append(f"user: {e['user']}")
        elif "call" in e:
            lines.append(f"→ {e['call']} {json.dumps(e['args'], ensure_ascii=False)}")
        elif "result" in e:
            lines.append(f"← {'ok' if e['ok'] else 'error'} {e['result']}: {e['content']}")
        elif "confirmed" in e:
            lines.append(
                ("✓ approved" if e["confirmed"] else "✗ rejected")
                + (f" ({e['note']})" if e.get("note") else "")
            )
        elif "revision" in e:
            lines.append(f"↺ answer sent back: unverified {', '.join(e['revision'])}")
        elif "answer" in e:
            lines.append(f"= {e['answer']}")
        elif "failed" in e:
            lines.append(f"✗ {e['failed']}" + (f": {e['reason']}" if e.get("reason") else ""))
    return lines


def markdown(meta: Meta, rows: Sequence[Row], attempts: Sequence[Attempt], chart: str | None) -> str:
    """The Markdown report: what ran, the summary, failure causes, then each failure in full."""
    k = meta.k
    thinks = _thinks(rows)
    out = [
        f"# errand eval: {meta.suite}",
        "",
        f"- model: `{meta.model}`{' (reference replay)' if meta.replay else ''}",
        f"- tasks: {meta.tasks}{f' (selected by `{meta.selection}`)' if meta.selection else ''}, "
        f"{meta.n} attempt(s) each, k = {k}",
        f"- started {meta.started}, took {meta.duration_s:.0f} s with {meta.jobs} job(s), "
        f"{meta.timeout_s:g} s per attempt at most",
        "",
        f"| domain | difficulty | tasks | pass^1 | pass^{k} | steps | tokens | wall s |"
        + (" thinking/step | answer/step |" if thinks else ""),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if thinks else ""),
    ]
    for r in rows:
        bold = "**" if r.domain == ALL and r.difficulty == ALL else ""
        out.append(
            f"| {bold}{r.domain}{bold} | {bold}{r.difficulty}{bold} | {r.tasks} | {bold}{_pct(r.pass1)}{bold} | "
            f"{bold}{_pct(r.passk)}{bold} | {r.steps:.1f} | {r.tokens:,.0f} | {r.wall_s:.1f} |"
            + (f" {r.thinking:,.0f} | {r.answer:,.0f} |" if thinks else "")
        )
    kinds = by_kind(attempts, k)
    out += ["", "| kind | tasks | pass^1 | steps | wall s |", "| --- | ---: | ---: | ---: | ---: |"]
    out += [
        f"| {r.difficulty} | {r.tasks} | {_pct(r.pass1)} | {r.steps:.1f} | {r.wall_s:.1f} |" for r in kinds
    ]
    matched, answered = language_matches(attempts)
    if answered:
        out += [
            "",
            f"Answers in the request's language: {matched}/{answered} ({100 * matched / answered:.0f}%).",
        ]
    if chart:
        out += ["", f"![pass rates]({chart})"]
    failed = [a for a in attempts if not a.passed]
    if failed:
        out += ["", "## Failure causes", "", "| cause | attempts |", "| --- | ---: |"]
        out += [f"| {c} | {n} |" for c, n in causes(attempts)]
        out += ["", "## Failures"]
        for a in failed:
            out += ["", f"### {a.task_id} (attempt {a.index + 1}; {a.domain}, {a.difficulty})", ""]
            if a.failure:
                out.append(f"- **{a.failure}**")
            out += [f"- failed: {c.name}" + (f" — {c.detail}" if c.detail else "") for c in a.failed_checks]
            out += ["", "```text", *transcript_lines(a), "```"]
    return "\n".join(out) + "\n"


def to_json(meta: Meta, rows: Sequence[Row], attempts: Sequence[Attempt]) -> dict[str, Any]:
    """Everything, as plain data (NaN pass^k, for too few attempts, becomes null)."""

    def clean(row: Row) -> dict[str, Any]:
        d = asdict(row)
        return {key: (None if isinstance(v, float) and v != v else v) for key, v in d.items()}

    matched, answered = language_matches(attempts)
    return {
        "meta": asdict(meta),
        "summary": [clean(r) for r in rows],
        "by_kind": [clean(r) for r in by_kind(attempts, meta.k)],
        "language": {"matched": matched, "answered": answered},
        "causes": causes(attempts),
        "attempts": [a.to_json() for a in attempts],
    }


def chart(rows: Sequence[Row], meta: Meta, path: Path) -> Path:
    """Bars of pass^1 and pass^k per domain and per difficulty, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_domain = [r for r in rows if r.difficulty == ALL]
    by_level = [r for r in rows if r.domain == ALL]
    fig, axes = plt.subplots(
        1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [len(by_domain), len(by_level)]}
    )
    for ax, group, label in ((axes[0], by_domain, "domain"), (axes[1], by_level, "difficulty")):
        names = [getattr(r, label) for r in group]
        xs = range(len(group))
        p1 = [100 * r.pass1 for r in group]
        pk = [0 if r.passk != r.passk else 100 * r.passk for r in group]
        if meta.k == 1:  # pass^k is pass^1: one bar each
            ax.bar(list(xs), p1, width=0.6, label="pass^1", color="#4C72B0")
        else:
            ax.bar([x - 0.2 for x in xs], p1, width=0.4, label="pass^1", color="#4C72B0")
            ax.bar([x + 0.2 for x in xs], pk, width=0.4, label=f"pass^{meta.k}", color="#DD8452")
        ax.set_xticks(list(xs), names)
        ax.set_ylim(0, 115)
        ax.set_title(f"by {label}")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("% of tasks")
    axes[1].legend(loc="upper center", ncols=2, frameon=False)
    fig.suptitle(f"errand eval · {meta.suite} · {meta.model}{' (replay)' if meta.replay else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(meta: Meta, attempts: Sequence[Attempt], out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.json and chart.png into ``out_dir``; their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = summarize(attempts, meta.k)
    png = chart(rows, meta, out_dir / "chart.png")
    md = out_dir / "report.md"
    md.write_text(markdown(meta, rows, attempts, png.name), encoding="utf-8")
    js = out_dir / "report.json"
    js.write_text(json.dumps(to_json(meta, rows, attempts), ensure_ascii=False, indent=2, default=str) + "\n")
    return {"markdown": md, "json": js, "chart": png}
