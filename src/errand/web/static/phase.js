// What a run is doing now, for the status line: the phase (thinking, running a tool, writing
// the answer) and since when, read from the run's events alone. A tool's results mean the model
// is thinking again, so the line never says "running" while the model works.

import { toolTitle } from "./format.js";

export class Phase {
  /** @param {() => number} now milliseconds (a test passes its own clock) */
  constructor(now = () => Date.now()) {
    this.now = now;
    this.text = "Starting";
    this.since = now();
    this.step = 1;
    this.running = new Map(); // call id -> tool name, calls without a result yet
    this.waiting = false;
    this.ended = false;
  }

  /** Move on with one agent event. */
  add(ev) {
    switch (ev.type) {
      case "run_started":
        this.set(`Thinking (step ${this.step})`);
        break;
      case "reasoning_delta":
        this.step = ev.step;
        this.set(`Thinking (step ${ev.step})`);
        break;
      case "text_delta":
        this.step = ev.step;
        this.set("Writing the answer");
        break;
      case "step_finished":
        this.step = ev.step + 1;
        this.set(`Thinking (step ${this.step})`);
        break;
      case "tool_call":
        this.running.set(ev.call_id, ev.name);
        this.set(this.runningText());
        break;
      case "confirmation_required":
        this.waiting = true;
        this.set("Waiting for your approval");
        break;
      case "confirmation_resolved":
        this.waiting = false;
        this.set(this.runningText());
        break;
      case "tool_result":
        this.running.delete(ev.call_id);
        this.set(this.running.size ? this.runningText() : `Thinking (step ${this.step})`);
        break;
      case "revision_requested":
        this.step = ev.step + 1;
        this.set("Checking the answer");
        break;
      case "run_finished":
      case "run_failed":
        this.ended = true;
        this.running.clear();
        this.set("");
        break;
      default:
        break;
    }
  }

  runningText() {
    const names = [...new Set(this.running.values())];
    if (!names.length) return `Thinking (step ${this.step})`;
    if (names.length === 1) return `Running ${toolTitle(names[0])}`;
    return `Running ${names.length} tools`;
  }

  set(text) {
    if (text === this.text) return;
    this.text = text;
    this.since = this.now();
  }

  /** Whole seconds spent in the current phase. */
  seconds() {
    return Math.max(0, Math.floor((this.now() - this.since) / 1000));
  }
}
