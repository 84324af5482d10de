#!/usr/bin/env python3
"""Give every built-in eval task a fixed half: ``split: dev`` (look at it, tune on it) or
``split: test`` (report it, never tune on it).

Tasks are grouped by domain, difficulty, kind of errand and whether the request comes with a
picture, each group shuffled with a fixed
seed, and dealt alternately, so each half has about the same mix. Tasks that already have a
split keep it: new tasks are dealt without moving old ones. Run it after adding tasks, and
commit the result.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from pathlib import Path

import yaml

SUITE = Path(__file__).resolve().parent.parent / "src/errand/eval/suites/builtin"
SEED = 20261204


def main() -> None:
    files = sorted(SUITE.glob("*.yaml"))
    tasks: list[dict[str, str]] = []
    for f in files:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        defaults = {k: v for k, v in data.items() if k != "tasks"}
        tasks += [{**defaults, **t} for t in data["tasks"]]
    # Picture errands are grouped apart, so each half gets its share of them too.
    groups: dict[tuple[str, str, str, bool], list[dict[str, str]]] = defaultdict(list)
    for t in tasks:
        groups[(t["domain"], t["difficulty"], t.get("category", "lookup"), "images" in t)].append(t)
    rng = random.Random(SEED)
    chosen: dict[str, str] = {}
    turn = 0  # alternate across groups too, so odd-sized groups do not all lean one way
    for key in sorted(groups):
        members = groups[key]
        counts = {"dev": 0, "test": 0}
        for t in members:
            if "split" in t:
                counts[t["split"]] += 1
        fresh = [t for t in members if "split" not in t]
        rng.shuffle(fresh)
        for t in fresh:
            if counts["dev"] != counts["test"]:
                half = "dev" if counts["dev"] < counts["test"] else "test"
            else:
                half = ("dev", "test")[turn % 2]
                turn += 1
            counts[half] += 1
            chosen[t["id"]] = half
    for f in files:
        text = f.read_text(encoding="utf-8")

        text = re.sub(r"^- ( *)id: ([a-z0-9._-]+)$", lambda m: add_line(m, chosen), text, flags=re.M)
        f.write_text(text, encoding="utf-8")
    dev = sum(v == "dev" for v in chosen.values())
    print(f"dealt {len(chosen)} new tasks: {dev} dev, {len(chosen) - dev} test")


def add_line(m: re.Match[str], chosen: dict[str, str]) -> str:
    """The ``- id:`` line, followed by its ``split:`` line when the task was just dealt."""
    task_id = m.group(2)
    if task_id not in chosen:
        return m.group(0)
    return f"{m.group(0)}\n  {m.group(1)}split: {chosen[task_id]}"


if __name__ == "__main__":
    main()
