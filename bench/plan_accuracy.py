"""The plan step alone: does the model's plan offer the services each eval task needs?

For every task of a split of the built-in suite (pictures left out), the agent's first decision
(`errand.agent.plan`: catalogue, rules and worked examples, a JSON schema) is made on the
bundled model, as a run makes it, and compared with the task's reference solution:

- ``covers``: the services of the reference calls are all offered (a miss dooms the run);
- ``exact``: exactly those services are offered (extra ones mean more tools to choose from);
- ``first_in``: the plan names the reference's first tool;
- ``acts_ok``: the verb says "acts" exactly when the reference writes (refusals are errands
  the user asked for that the reference does not write, so this undercounts).

    python bench/plan_accuracy.py [--split dev|test] [--out bench/results/plan_accuracy.json]

Run it with one llama.cpp thread (``ERRAND_N_THREADS=1``) when anything else is running:
two model processes on two cores each wait at llama.cpp's thread barriers and run ten times
slower. The ``dev`` split is for deciding; report on ``test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from environment import Environment

from errand.agent.plan import plan_for, plan_messages, plan_prompt, plan_schema
from errand.config import Settings
from errand.eval.catalog import load_suite
from errand.eval.runner import task_request
from errand.llm import make_model
from errand.llm.base import collect
from errand.llm.types import ModelSettings
from errand.services import builtin_domains, builtin_registry


async def measure(split: str) -> dict[str, Any]:
    env = Environment.capture()
    registry = builtin_registry()
    system = plan_prompt(registry, {d.name: d.description for d in builtin_domains()})
    schema = plan_schema([t.name for t in registry])
    settings = ModelSettings(temperature=0, max_tokens=100, response_format=schema, tool_choice="auto")
    model = make_model(Settings())
    tasks = [t for t in load_suite("builtin").tasks if t.split == split and not t.id.startswith("pic-")]
    rows: list[dict[str, Any]] = []
    for task in tasks:
        calls = [s.call for s in task.reference if s.call]
        tools = [t for c in calls if (t := registry.get(c)) is not None]
        want = {t.domain for t in tools}
        started = time.perf_counter()
        reply = await collect(
            model.stream(plan_messages(system, [], task_request(task, None).text), [], settings)
        )
        plan = plan_for(reply.text, task.request, registry)  # as a run reads it
        got = set(plan.domains)
        rows.append(
            {
                "id": task.id,
                "want": sorted(want),
                "got": sorted(got),
                "covers": want <= got,
                "exact": want == got,
                "first_in": bool(calls and calls[0] in plan.tools),
                "acts_ok": plan.acts == any(t.risk != "read" for t in tools),
                "plan": reply.text,
                "s": round(time.perf_counter() - started, 2),
            }
        )
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    summary = {k: sum(bool(r[k]) for r in rows) for k in ("covers", "exact", "first_in", "acts_ok")}
    summary["tasks"] = len(rows)
    summary["extra_services"] = sum(len(set(r["got"]) - set(r["want"])) for r in rows)
    return {"environment": env.finish(), "split": split, "summary": summary, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--out", type=Path, default=Path("bench/results/plan_accuracy.json"))
    args = parser.parse_args()
    result = asyncio.run(measure(args.split))
    print("summary", result["summary"])
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
