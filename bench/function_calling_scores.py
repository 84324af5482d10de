"""The gateway's decision alone, on the dev cases: the no-call probability of each, and the calls
it names when it must call; then how many cases each no-call threshold gets right.

    ERRAND_N_THREADS=1 python bench/function_calling_scores.py --threads 1 \
        [--cases bench/function_calling_dev.yaml] [--out bench/results/function_calling_scores.json]

One decision per case through `EmbeddedModel.decide` (the code every gateway request that decides
first runs), with the threshold out of reach, so the answer always goes on to its calls: the
probability of no call at the choice (``errand.llm.decision.no_call_probability``) and the tool
names the model then writes are both recorded. For a threshold t a case is right when a no_call
case scores t or more, and any other scores under t and names exactly its expected tools (any
order; arguments are not graded here). The thresholds are the midpoints between successive
scores, so each is as far from the nearest case as it can be.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

from environment import Environment
from function_calling import CATEGORIES, load_cases

HERE = Path(__file__).resolve().parent
DEV = HERE / "function_calling_dev.yaml"
OUT = HERE / "results" / "function_calling_scores.json"


def right(row: dict[str, Any], threshold: float) -> bool:
    p = row["no_call_probability"]
    if p is None:  # not read: the decision chose freely
        return Counter(row["calls"] or []) == Counter(row["expect"])
    if row["category"] == "no_call":
        return bool(p >= threshold)
    return p < threshold and Counter(row["calls"] or []) == Counter(row["expect"])


def table(rows: list[dict[str, Any]], threshold: float) -> dict[str, int]:
    return {c: sum(right(r, threshold) for r in rows if r["category"] == c) for c in CATEGORIES}


async def score(args: argparse.Namespace) -> list[dict[str, Any]]:
    import tempfile

    from errand.config import Settings
    from errand.llm import make_model
    from errand.llm.embedded import EmbeddedModel
    from errand.llm.types import Message, ModelSettings, ToolSpec

    tools, cases = load_cases(Path(args.cases))
    settings = Settings(
        home=Path(tempfile.mkdtemp(prefix="errand-fcs-")),
        model_backend="embedded",
        request_timeout_s=600,
        prefix_cache=False,
        n_threads=args.threads,
    )
    model = make_model(settings)
    assert isinstance(model, EmbeddedModel)
    model.load()
    # What the gateway sends for a client's `auto` request (errand.server.completions).
    asked = ModelSettings(temperature=0.0, max_tokens=200, max_tool_calls=4)
    rows = []
    try:
        for case in cases:
            started = time.perf_counter()
            specs = [ToolSpec(**tools[n]) for n in case.tools]
            decision = await model.decide(
                [Message(role="user", content=case.prompt)], specs, asked, threshold=math.inf
            )
            row = {
                "id": case.id,
                "category": case.category,
                "no_call_probability": decision.no_call_probability,
                "calls": decision.calls,
                "expect": [e["name"] for e in case.expect],
                "seconds": round(time.perf_counter() - started, 1),
            }
            p = row["no_call_probability"]
            print(
                f"{case.id:18} p={'-' if p is None else f'{p:.3f}'}  {row['calls']}  (expect {row['expect']})"
            )
            rows.append(row)
    finally:
        model.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=str(DEV))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--rescore", action="store_true", help="only the thresholds, from --out")
    args = parser.parse_args()
    if args.rescore:
        rows = json.loads(Path(args.out).read_text())["cases"]
        env = None
    else:
        env = Environment.capture()
        rows = asyncio.run(score(args))
    scores = sorted({r["no_call_probability"] for r in rows if r["no_call_probability"] is not None})
    cuts = [round((a + b) / 2, 3) for a, b in itertools.pairwise(scores)]
    print("\nthreshold  " + "  ".join(f"{c:>8}" for c in CATEGORIES) + "     all")
    results = []
    for t in cuts:
        counts = table(rows, t)
        results.append({"threshold": t, **counts, "all": sum(counts.values())})
    best = max(r["all"] for r in results) if results else 0
    totals = Counter(r["category"] for r in rows)
    for r in results:
        mark = "  <- most right" if r["all"] == best else ""
        cells = "  ".join(f"{r[c]:>3}/{totals[c]:<4}" for c in CATEGORIES)
        print(f"{r['threshold']:9.3f}  {cells}  {r['all']:>3}/{len(rows)}{mark}")
    if env is not None:
        out = {"cases_file": args.cases, "cases": rows, "thresholds": results, "environment": env.finish()}
        Path(args.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
