// A finished run's timeline, as `errand runs show ID --trace` draws it in a terminal: the run,
// each step, its model call and tool calls, with their time, tokens and cost, and a bar placed
// where each ran. The numbers come from GET /v1/runs/{id}/trace, which the server computes with
// the same function as the terminal (errand.telemetry.timeline); this module only draws them.

import { toolTitle } from "./format.js";
import { el } from "./render.js";

const OUTCOME = { ok: "done", error: "failed", rejected: "rejected", not_run: "not run" };

/** 412 -> "412 ms", 1200 -> "1.20 s" (as the terminal waterfall writes them). */
export function traceDuration(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** "1,200 (200 cached) → 300", or "" for a call that used no tokens. */
export function traceTokens(usage) {
  if (!usage || !(usage.prompt_tokens || usage.completion_tokens)) return "";
  const n = (v) => Number(v).toLocaleString("en");
  const cached = usage.cached_tokens ? ` (${n(usage.cached_tokens)} cached)` : "";
  return `${n(usage.prompt_tokens)}${cached} → ${n(usage.completion_tokens)}`;
}

/** A cost as the terminal writes it: six significant digits ("0.00575 USD"), two decimals from
 * 100 on; "-" when the model has no price. */
export function traceCost(cost, currency) {
  if (cost === null || cost === undefined) return "-";
  if (cost >= 100) {
    return `${cost.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`;
  }
  return `${Number(cost.toPrecision(6))} ${currency}`;
}

function bar(start, ms, end, kind) {
  const fill = el("span", { cls: `tl-bar tl-${kind}` });
  fill.style.left = `${Math.min(100, (start / end) * 100)}%`;
  fill.style.width = `${Math.max(0.5, Math.min(100 - (start / end) * 100, (ms / end) * 100))}%`;
  return el("span", { cls: "tl-track", attrs: { "aria-hidden": "true" } }, fill);
}

function row(kind, label, ms, tokens, cost, start, end, data = {}) {
  const attrs = { "data-kind": kind };
  for (const [k, v] of Object.entries(data)) attrs[`data-${k}`] = v;
  return el(
    "tr",
    { cls: `tl-row tl-row-${kind}`, attrs },
    el("th", { attrs: { scope: "row" } }, label),
    el("td", { cls: "tl-time", text: traceDuration(ms) }),
    el("td", { cls: "tl-tokens", text: tokens }),
    el("td", { cls: "tl-cost", text: cost }),
    el("td", { cls: "tl-when" }, bar(start, ms, end, kind)),
  );
}

/** The run's timeline (the JSON of /v1/runs/{id}/trace), folded under a one-line summary. */
export function timelineOf(line) {
  const end = Math.max(line.total_ms, ...line.steps.map((s) => s.end_ms), 1);
  const money = (cost) => traceCost(cost, line.currency);
  const rows = [row("run", `Run${line.model ? ` (${line.model})` : ""}`, line.total_ms || end, traceTokens(line.usage), money(line.cost), 0, end)];
  for (const s of line.steps) {
    rows.push(row("step", `Step ${s.step}`, s.end_ms - s.start_ms, "", "", s.start_ms, end, { step: s.step }));
    rows.push(row("model", "Model", s.model_ms, traceTokens(s.usage), money(s.cost), s.start_ms, end, { step: s.step }));
    for (const t of s.tools) {
      const asked = t.confirmation ? `, asked: ${t.confirmation}` : "";
      const label = el("span", {}, toolTitle(t.name), el("span", { cls: `tl-outcome tl-${t.outcome}`, text: ` (${OUTCOME[t.outcome] || t.outcome}${asked})` }));
      rows.push(row("tool", label, t.ms, "", "", t.start_ms, end, { step: s.step, tool: t.name }));
    }
  }
  const head = el(
    "tr",
    {},
    ...["Part", "Time", "Tokens (in → out)", "Cost", `0 … ${traceDuration(end)}`].map((text) =>
      el("th", { text, attrs: { scope: "col" } }),
    ),
  );
  const table = el("table", { cls: "tl-table" }, el("thead", {}, head), el("tbody", {}, ...rows));
  const steps = line.steps.length === 1 ? "1 step" : `${line.steps.length} steps`;
  const tokens = (line.usage.prompt_tokens || 0) + (line.usage.completion_tokens || 0);
  const summary = `Timeline: ${steps} · ${traceDuration(line.total_ms)} · ${tokens.toLocaleString("en")} tokens · ${money(line.cost)}`;
  return el(
    "details",
    { cls: "timeline", attrs: { "aria-label": "Timeline" } },
    el("summary", { text: summary }),
    el("div", { cls: "tl-scroll" }, table),
    el("p", {
      cls: "run-meta",
      text: `Other ${traceDuration(line.other_ms)}: planning, confirmations, errand's own work.`,
    }),
  );
}
