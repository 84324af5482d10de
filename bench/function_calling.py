"""Function calling through ``errand serve``'s gateway: does the model call the right tool?

80 cases (``bench/function_calling_cases.yaml``), 20 in each of four categories that mirror
the categories of public function-calling benchmarks (BFCL's simple, multiple, parallel and
irrelevance); the cases and tools are errand's own:

- ``single``: one tool offered; one call of it with the right arguments;
- ``multiple``: 3-5 tools offered; one call of the right one, with the right arguments;
- ``parallel``: 2-3 calls in one response (the same tool or different ones), in any order;
- ``no_call``: tools offered but none relevant; a text answer and no call.

Each case is one ``POST /v1/chat/completions`` through the official ``openai`` client, with a
backend model name (not ``errand``: that runs the agent), the case's tools as client ``tools``,
``tool_choice`` as asked (``auto`` by default), temperature 0 and at most 200 new tokens. Only
``tool_calls`` of the response count: a call written into the text is a miss. Answers are
streamed and cut once 60 characters of text have come with no call before them: with errand's
embedded model nothing can follow text (its grammar admits a call or an answer, not both), so
this grades the same as reading the whole answer and saves generating long prose on a CPU
(``--text-chars 0`` reads every answer whole, as a non-streamed request).

Grading is lenient on form, strict on content: the exact set of calls (no extra, none
missing), each with the right function name; strings equal ignoring case and surrounding
spaces/punctuation (or one of a few accepted values), numbers equal by value; arguments a
case does not list are not graded, but a call may only use parameters its tool declares.

    python bench/function_calling.py [--tool-choice auto|required|named] [--category single ...]
        [--model-path GGUF | --bundled qwen2.5-coder-1.5b] [--url http://host:port --api-key KEY]
        [--case ID ...] [--raw] [--text-chars 60] [--out bench/results/function_calling.json]

Without ``--url`` the server runs in this process (the real app on uvicorn, loopback, with
the embedded model loaded once). ``--raw`` sends the same cases to llama.cpp's own
``/v1/chat/completions`` inside the embedded model instead (no errand grammar) and reads calls
from its text with errand's lenient parser: the reference the gateway is compared with.
``required`` mode skips ``no_call``; ``named`` (``tool_choice`` naming the expected function)
runs ``single`` and ``multiple`` only.

Prints a table per category and writes JSON (each case's calls, llama.cpp threads, and the
environment block of ``bench/environment.py``: commit, date, Python, load average, CPUs); a
previous result in the same file for the same mode is kept as ``previous``.
Targets under ``auto``: single >= 85%, multiple >= 80%, parallel >= 60%, no_call >= 60%.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from environment import Environment

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "function_calling_cases.yaml"
RESULTS = Path(__file__).resolve().parent / "results" / "function_calling.json"
CATEGORIES = ("single", "multiple", "parallel", "no_call")
TARGETS = {"single": 0.85, "multiple": 0.80, "parallel": 0.60, "no_call": 0.60}
MODES = {
    "auto": CATEGORIES,
    "required": ("single", "multiple", "parallel"),
    "named": ("single", "multiple"),
}


# -- cases and grading ---------------------------------------------------------------------


@dataclass
class Case:
    id: str
    category: str
    prompt: str
    tools: list[str]
    expect: list[dict[str, Any]]


def load_cases(path: Path = CASES) -> tuple[dict[str, dict[str, Any]], list[Case]]:
    """The tools (name -> OpenAI ``function``) and the cases, checked for consistency."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    tools: dict[str, dict[str, Any]] = {
        name: {"name": name, "description": t["description"], "parameters": t["parameters"]}
        for name, t in data["tools"].items()
    }
    cases = [Case(**c) for c in data["cases"]]
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate case ids")
    for c in cases:
        if c.category not in CATEGORIES:
            raise ValueError(f"{c.id}: unknown category {c.category}")
        for name in c.tools + [e["name"] for e in c.expect]:
            if name not in tools:
                raise ValueError(f"{c.id}: unknown tool {name}")
        if any(e["name"] not in c.tools for e in c.expect):
            raise ValueError(f"{c.id}: expects a call of a tool it does not offer")
        if (c.category == "no_call") != (not c.expect):
            raise ValueError(f"{c.id}: only no_call cases expect no call")
    return tools, cases


_EDGES = " \t\r\n.,;:!?。，！？'\"“”‘’"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip(_EDGES).lower())


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def value_matches(expected: Any, actual: Any) -> bool:
    """Lenient equality of one argument value (see the module docstring)."""
    if isinstance(expected, dict) and set(expected) == {"one_of"}:
        return any(value_matches(e, actual) for e in expected["one_of"])
    if isinstance(expected, dict) and set(expected) == {"contains"}:
        return isinstance(actual, str) and _norm(expected["contains"]) in _norm(actual)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float):
        got = _number(actual)
        return got is not None and math.isclose(got, float(expected), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, str):
        if isinstance(actual, int | float) and not isinstance(actual, bool):
            return _number(expected) is not None and value_matches(_number(expected), actual)
        return isinstance(actual, str) and _norm(actual) == _norm(expected)
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(value_matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and value_matches(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


def call_matches(expected: dict[str, Any], actual: dict[str, Any], tool: dict[str, Any]) -> bool:
    """One call: same name, every listed argument right, no parameter the tool does not declare."""
    if actual["name"] != expected["name"]:
        return False
    args = actual["arguments"]
    if not isinstance(args, dict):
        return False
    declared = set(tool["parameters"].get("properties", {}))
    if set(args) - declared:
        return False
    return all(k in args and value_matches(v, args[k]) for k, v in expected.get("arguments", {}).items())


def _assign(expected: list[dict[str, Any]], actual: list[dict[str, Any]], tools: dict[str, Any]) -> bool:
    """Whether each expected call matches a different actual call (any order)."""
    if not expected:
        return True
    first, rest = expected[0], expected[1:]
    for i, a in enumerate(actual):
        if call_matches(first, a, tools[a["name"]]) and _assign(rest, actual[:i] + actual[i + 1 :], tools):
            return True
    return False


def grade(case: Case, calls: list[dict[str, Any]], tools: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """(passed, why not) for one response's calls."""
    if not case.expect:
        return (not calls, "" if not calls else f"called {', '.join(c['name'] for c in calls)}")
    if not calls:
        return False, "no call"
    unknown = [c["name"] for c in calls if c["name"] not in case.tools]
    if unknown:
        return False, f"called a tool not offered: {', '.join(unknown)}"
    if len(calls) != len(case.expect):
        return False, f"{len(calls)} call(s), expected {len(case.expect)}"
    if sorted(c["name"] for c in calls) != sorted(e["name"] for e in case.expect):
        return False, "wrong function: " + ", ".join(c["name"] for c in calls)
    if not _assign(case.expect, calls, tools):
        return False, "wrong arguments"
    return True, ""


# -- the server ----------------------------------------------------------------------------


@dataclass
class Target:
    """Where requests go: an OpenAI base URL, its key, the model name."""

    base_url: str
    api_key: str
    model: str
    backend: str
    """``errand gateway`` or ``llama.cpp raw``."""
    n_threads: int | None = None


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def in_process(args: argparse.Namespace) -> Iterator[Target]:
    """The real app on uvicorn in a thread, on loopback, with the embedded model loaded first."""
    import uvicorn

    from errand.config import Settings
    from errand.llm import make_model
    from errand.llm.embedded import EmbeddedModel
    from errand.server.app import create_app
    from errand.services.store import ServiceStore

    home = Path(tempfile.mkdtemp(prefix="errand-fc-"))
    options: dict[str, Any] = {"n_ctx": args.n_ctx, "bundled_model": args.bundled, "n_threads": args.threads}
    if args.model_path is not None:
        options["model_path"] = args.model_path
    # The model as `errand serve` makes it (ERRAND_* from the environment apply too).
    # A generous timeout: the machine may be shared, and a slow answer is still graded. No saved
    # prefixes: every case offers other tools, and the files would push the user's own out of the cache.
    settings = Settings(
        home=home, model_backend="embedded", request_timeout_s=600, prefix_cache=False, **options
    )
    model = make_model(settings)
    if not isinstance(model, EmbeddedModel):
        raise SystemExit("the in-process server runs the embedded model")
    started = time.perf_counter()
    model.load()
    print(f"loaded {model.name} in {time.perf_counter() - started:.1f} s ({model.n_threads} threads)")
    # The gateway needs no service data: an empty, migrated database holds the API keys.
    store = ServiceStore.open(settings.resolved_database_url(), seed=False)
    app = create_app(settings, model=model, store=store, open_runs=False)
    sock = _free_socket()
    config = uvicorn.Config(app, log_level="warning", access_log=False, ws="none", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise SystemExit("the server did not start")
    try:
        if args.raw:
            yield Target(
                model.listening_address + "/v1", model.api_key, model.name, "llama.cpp raw", model.n_threads
            )
        else:
            _, key = app.state.server.keys.create("bench", rpm=100_000, max_runs=100)
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
            yield Target(url, key, _backend_model(url, key, args.model), "errand gateway", model.n_threads)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        store.close()
        model.close()
        shutil.rmtree(home, ignore_errors=True)


def _backend_model(base_url: str, key: str, wanted: str | None) -> str:
    """The backend model's name from ``GET /v1/models`` (``errand`` is the agent, not a model)."""
    import openai

    with openai.OpenAI(base_url=base_url, api_key=key, max_retries=0) as client:
        names = [m.id for m in client.models.list()]
    if wanted:
        if wanted not in names:
            raise SystemExit(f"{wanted!r} is not served here; the server lists {names}")
        return wanted
    backends = [n for n in names if n != "errand"]
    if not backends:
        raise SystemExit(f"no backend model listed: {names}")
    return backends[0]


# -- running -------------------------------------------------------------------------------


@dataclass
class Outcome:
    id: str
    category: str
    passed: bool
    why: str
    calls: list[dict[str, Any]]
    content: str
    finish_reason: str | None
    seconds: float


def _lenient_calls(content: str) -> list[dict[str, Any]]:
    """Calls read out of raw text by errand's own parser (tags, fences, bare JSON)."""
    from errand.llm.parsing import parse_output
    from errand.llm.types import ToolCallEvent

    return [
        {"name": ev.call.name, "arguments": ev.call.arguments}
        for ev in parse_output(content)
        if isinstance(ev, ToolCallEvent)
    ]


def _arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text


def ask(client: Any, target: Target, case: Case, tools: dict[str, Any], args: argparse.Namespace) -> Any:
    """One case's request: (calls, text, finish reason). Streamed, and cut once ``--text-chars``
    characters of text have come with no call before them (see ``--text-chars``)."""
    choice: Any = args.tool_choice
    if args.tool_choice == "named":
        choice = {"type": "function", "function": {"name": case.expect[0]["name"]}}
    request = {
        "model": target.model,
        "messages": [{"role": "user", "content": case.prompt}],
        "tools": [{"type": "function", "function": tools[name]} for name in case.tools],
        "tool_choice": choice,
        "temperature": 0,
        "max_tokens": args.max_tokens,
    }
    raw = target.backend == "llama.cpp raw"
    if raw or not args.text_chars:
        message = client.chat.completions.create(**request).choices[0]
        calls = [
            {"name": tc.function.name, "arguments": _arguments(tc.function.arguments)}
            for tc in message.message.tool_calls or []
        ]
        content = message.message.content or ""
        if raw and not calls:
            calls = _lenient_calls(content)
        return calls, content, message.finish_reason
    content, finish = "", None
    made: dict[int, dict[str, str]] = {}
    stream = client.chat.completions.create(**request, stream=True)
    try:
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            content += delta.content or ""
            for tc in delta.tool_calls or []:
                slot = made.setdefault(tc.index, {"name": "", "arguments": ""})
                slot["name"] += (tc.function and tc.function.name) or ""
                slot["arguments"] += (tc.function and tc.function.arguments) or ""
            finish = chunk.choices[0].finish_reason or finish
            if not made and len(content.strip()) >= args.text_chars:
                finish = "cut"
                break
    finally:
        stream.close()  # a client that leaves stops the generation
    calls = [{"name": c["name"], "arguments": _arguments(c["arguments"])} for _, c in sorted(made.items())]
    return calls, content, finish


def run_cases(
    target: Target, tools: dict[str, dict[str, Any]], cases: list[Case], args: argparse.Namespace
) -> list[Outcome]:
    import openai

    outcomes: list[Outcome] = []
    with openai.OpenAI(
        base_url=target.base_url, api_key=target.api_key, max_retries=0, timeout=600
    ) as client:
        for case in cases:
            started = time.perf_counter()
            try:
                calls, content, finish = ask(client, target, case, tools, args)
            except openai.APIError as exc:  # counted as a miss, never the end of the run
                took = round(time.perf_counter() - started, 2)
                outcomes.append(Outcome(case.id, case.category, False, f"error: {exc}", [], "", None, took))
                print(f"MISS {case.id:12} {took:5.1f}s error: {exc}", flush=True)
                continue
            took = round(time.perf_counter() - started, 2)
            passed, why = grade(case, calls, tools)
            outcomes.append(Outcome(case.id, case.category, passed, why, calls, content[:300], finish, took))
            mark = "ok  " if passed else "MISS"
            print(f"{mark} {case.id:12} {took:5.1f}s {why}", flush=True)
    return outcomes


def summarise(outcomes: list[Outcome], mode: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cat in MODES[mode]:
        rows = [o for o in outcomes if o.category == cat]
        if not rows:
            continue
        passed = sum(o.passed for o in rows)
        entry: dict[str, Any] = {
            "cases": len(rows),
            "passed": passed,
            "percent": round(100 * passed / len(rows), 1),
            "no_call_misses": sum(1 for o in rows if o.why == "no call"),
            "median_s": round(statistics.median(o.seconds for o in rows), 2),
        }
        if mode == "auto":
            entry["target_percent"] = round(100 * TARGETS[cat])
            entry["target_met"] = passed / len(rows) >= TARGETS[cat]
        out[cat] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool-choice", choices=sorted(MODES), default="auto")
    parser.add_argument("--category", action="append", choices=CATEGORIES, help="only these (repeatable)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many cases per category")
    parser.add_argument("--case", action="append", help="only the cases with these ids (repeatable)")
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--url", help="an `errand serve` to talk to (default: start one in process)")
    parser.add_argument("--api-key", default=os.environ.get("ERRAND_BENCH_API_KEY", ""))
    parser.add_argument("--model", help="backend model name (default: the one GET /v1/models lists)")
    parser.add_argument("--model-path", type=Path, help="a GGUF (default: the bundled model)")
    parser.add_argument("--bundled", default="qwen2.5-coder-1.5b")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument(
        "--text-chars",
        type=int,
        default=60,
        help="stop reading a streamed answer after this many characters of text with no call before "
        "them (exact for errand's embedded model, whose grammar lets no call follow text; 0: read "
        "every answer whole, not streamed)",
    )
    parser.add_argument("--raw", action="store_true", help="llama.cpp's own chat endpoint, parsed leniently")
    parser.add_argument("--label", default="", help="a note stored with the result (e.g. 'before')")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.raw and args.url:
        parser.error("--raw needs the in-process server")

    tools, cases = load_cases(args.cases)
    wanted = [c for c in MODES[args.tool_choice] if not args.category or c in args.category]
    selected: list[Case] = []
    for cat in wanted:
        of_cat = [c for c in cases if c.category == cat and (not args.case or c.id in args.case)]
        selected += of_cat[: args.limit] if args.limit else of_cat
    env = Environment.capture()
    started = time.perf_counter()
    if args.url:
        if not args.api_key:
            parser.error("--url needs --api-key (or ERRAND_BENCH_API_KEY)")
        base = args.url.rstrip("/") + ("" if args.url.rstrip("/").endswith("/v1") else "/v1")
        target = Target(base, args.api_key, _backend_model(base, args.api_key, args.model), "errand serve")
        outcomes = run_cases(target, tools, selected, args)
    else:
        with in_process(args) as target:
            outcomes = run_cases(target, tools, selected, args)
    wall = time.perf_counter() - started
    summary = summarise(outcomes, args.tool_choice)

    print(f"\n{target.backend}, model {target.model}, tool_choice={args.tool_choice}\n")
    print("| category | cases | passed | % | no call made | target | median s/case |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for cat, s in summary.items():
        goal = (
            f">= {s['target_percent']}% {'met' if s['target_met'] else 'NOT met'}"
            if "target_met" in s
            else "-"
        )
        print(
            f"| {cat} | {s['cases']} | {s['passed']} | {s['percent']} | {s['no_call_misses']} | {goal} "
            f"| {s['median_s']} |"
        )
    misses = [o for o in outcomes if not o.passed]
    if misses:
        print("\nmisses:")
        for o in misses:
            got = "; ".join(f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False)})" for c in o.calls)
            print(f"  {o.id}: {o.why}: {got or repr(o.content[:80])}")

    result: dict[str, Any] = {
        "bench": "function_calling",
        "label": args.label,
        "backend": target.backend,
        "model": target.model,
        "tool_choice": args.tool_choice,
        "max_tokens": args.max_tokens,
        "text_chars": 0 if target.backend == "llama.cpp raw" else args.text_chars,
        "summary": summary,
        "wall_s": round(wall, 1),
        "n_threads": target.n_threads,
        "environment": env.finish(),
        "cases": [asdict(o) for o in outcomes],
    }
    if args.out.is_file():
        try:
            old = json.loads(args.out.read_text())
        except ValueError:
            old = {}
        if old.get("tool_choice") == args.tool_choice and old.get("backend") == target.backend:
            # Results written before bench/environment.py carry ``machine`` instead.
            keys = ("label", "summary", "environment" if "environment" in old else "machine")
            result["previous"] = {k: old.get(k) for k in keys}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
