// Draws one run's events (src/errand/agent/events.py) as a conversation: the request, folded
// reasoning, a card per tool call, the answer as it streams, and why a run stopped.
// Everything from the server goes in as text (textContent), never as HTML, except the model's
// own text (drafts and the answer): that is Markdown, rendered and sanitised by markdown.js.

import { argName, argValue, baseName, formatDuration, formatMoney, toolTitle } from "./format.js";
import { renderInto } from "./markdown.js";

/** document.createElement with a class, text and attributes. */
export function el(tag, { cls = "", text = null, attrs = {} } = {}, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== null && text !== undefined) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** A <dl> of arguments in words. */
export function argList(args, cls = "args") {
  const dl = el("dl", { cls });
  for (const [k, v] of Object.entries(args || {})) {
    dl.append(el("dt", { text: argName(k) }), el("dd", { text: argValue(v) }));
  }
  return dl;
}

class ToolCard {
  constructor(ev) {
    this.name = ev.name;
    this.step = ev.step;
    this.title = toolTitle(ev.name);
    this.heading = el("h3", { cls: "tool-name", text: this.title });
    this.state = el("span", { cls: "tool-state", text: "Running…" });
    this.node = el(
      "article",
      { cls: "tool running", attrs: { "data-call": ev.call_id, "data-tool": ev.name, "aria-label": `Tool: ${this.title}` } },
      el("div", { cls: "tool-head" }, this.heading, this.state),
    );
    this.args = null;
    if (ev.arguments && Object.keys(ev.arguments).length) {
      this.args = argList(ev.arguments);
      this.node.append(this.args);
    }
    this.confirmBox = null;
    this.next = null;
    this.rejected = false;
  }

  setState(text, cls) {
    this.state.textContent = text;
    this.node.classList.remove("running", "waiting", "ok", "failed", "declined");
    this.node.classList.add(cls);
  }

  waitFor(ev, onReview) {
    this.setState("Waiting for your approval", "waiting");
    if (this.args && ev.arguments) {
      // A changed call is asked about again: the card shows the call as it now stands.
      const now = argList(ev.arguments);
      this.args.replaceWith(now);
      this.args = now;
    }
    const amount = formatMoney(ev.amount, ev.currency);
    const review = el("button", { cls: "primary", text: "Review and decide", attrs: { type: "button" } });
    review.addEventListener("click", () => onReview(ev));
    this.confirmBox = el(
      "div",
      { cls: "tool-confirm" },
      el("span", { text: `Needs your approval${amount ? ` (${amount})` : ""}: ${ev.summary}` }),
      el("br"),
      review,
    );
    this.node.append(this.confirmBox);
  }

  resolved(ev) {
    this.rejected = !ev.approved;
    const edited = Object.keys(ev.edited || {}).length > 0;
    if (this.confirmBox) {
      const changed = Object.entries(ev.edited || {})
        .map(([k, v]) => `${argName(k)} to ${argValue(v)}`)
        .join("; ");
      this.confirmBox.replaceChildren(
        el("span", {
          text: edited
            ? `Changed ${changed}${ev.by ? ` (by ${ev.by})` : ""}${ev.note ? `: “${ev.note}”` : "."} Priced again for your approval.`
            : ev.approved
              ? `Approved${ev.note ? `: “${ev.note}”` : "."}`
              : `Rejected${ev.note ? `: “${ev.note}”` : "."} Nothing was charged.`,
        }),
      );
      this.confirmBox.className = "tool-summary";
    }
    if (edited) this.setState("Changed, priced again…", "running");
    else this.setState(ev.approved ? "Approved, running…" : "Rejected", ev.approved ? "running" : "declined");
  }

  /** What the call found (or why it failed) first, under the heading; what was asked folds
   * away below it, since the result is what the person reads the card for. */
  result(ev, loadArtifact) {
    const took = ev.duration_ms > 0 ? ` in ${formatDuration(ev.duration_ms)}` : "";
    const head = this.heading.parentNode;
    if (ev.ok) {
      this.setState(`Done${took}`, "ok");
      head.after(el("p", { cls: "tool-summary tool-result", text: ev.summary }));
    } else if (this.rejected) {
      this.setState("Not done: you rejected it", "declined");
    } else {
      this.setState(`Failed${took}`, "failed");
      const message = /^error\b/i.test(ev.summary) ? ev.summary : `Error: ${ev.summary}`;
      head.after(el("p", { cls: "tool-error", text: message }));
    }
    if (this.args) {
      const asked = el("details", { cls: "tool-asked" }, el("summary", { text: "What was asked" }));
      this.args.replaceWith(asked);
      asked.append(this.args);
    }
    for (const path of ev.artifacts || []) this.node.append(chartFigure(path, this.title, loadArtifact));
    if (ev.content) {
      this.node.append(
        el(
          "details",
          {},
          el("summary", { text: ev.ok ? "What the agent was shown" : "The full message the agent got" }),
          el("pre", { text: ev.content }),
        ),
      );
    }
  }

  /** The run ended while this call still waited or ran: it was not done. */
  abandon() {
    if (!this.node.classList.contains("waiting") && !this.node.classList.contains("running")) return;
    if (this.confirmBox) {
      this.confirmBox.replaceChildren(el("span", { text: "Not approved before the errand ended. Nothing was charged." }));
      this.confirmBox.className = "tool-summary";
    }
    this.setState("Not done", "declined");
  }

  /** After an error or a rejection: say what the agent did next. */
  then(text) {
    if (this.next) return;
    this.next = el("p", { cls: "tool-next", text });
    this.node.append(this.next);
  }
}

/** A chart saved by a tool, shown inline once it is fetched with the key. */
function chartFigure(path, title, loadArtifact) {
  const name = baseName(path);
  const img = el("img", { attrs: { alt: `Chart from ${title} (${name})`, decoding: "async" } });
  const caption = el("figcaption", { text: `Chart: ${name}` });
  const figure = el("figure", { cls: "chart", attrs: { "data-artifact": name } }, img, caption);
  loadArtifact(name).then(
    (url) => {
      img.src = url;
      const open = el("a", { text: "Open full size", attrs: { href: url, target: "_blank", rel: "noopener" } });
      caption.append(" · ", open);
    },
    (err) => {
      img.remove();
      caption.textContent = `The chart ${name} could not be shown: ${err.message}`;
      caption.className = "error";
    },
  );
  return figure;
}

export class Transcript {
  /**
   * @param {HTMLElement} root
   * @param {object} hooks
   * @param {(name: string) => Promise<string>} hooks.loadArtifact a blob: URL for a run's file
   * @param {(ev: object) => void} hooks.onConfirm a confirmation_required arrived
   * @param {(ev: object) => void} hooks.onResolved a confirmation was answered
   * @param {(ev: object) => void} hooks.onReview the person asked to see a confirmation again
   * @param {(ev: object) => void} hooks.onEnd the run's last event arrived
   */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.clear();
  }

  clear() {
    this.root.replaceChildren();
    this.request = null;
    this.steps = new Map();
    this.cards = new Map();
    this.awaitingNext = [];
    this.lastText = null;
    this.ended = null;
  }

  /** The person's request, with the images they attached (when this page still has them). */
  showRequest(input, images = []) {
    const bubble = el("div", { cls: "msg-user", attrs: { "aria-label": "Your request" } }, el("span", { text: input }));
    if (images.length) {
      const row = el("div", { cls: "user-images" });
      images.forEach((src, i) => row.append(el("img", { attrs: { src, alt: `Attached image ${i + 1}` } })));
      bubble.append(row);
    }
    const node = el("div", { cls: "msg-user-row" }, bubble);
    // Below the conversation's earlier turns (drawn first, marked .earlier), above this run's events.
    const earlier = this.root.querySelectorAll(":scope > .earlier");
    if (this.request) this.request.replaceWith(node);
    else if (earlier.length) earlier[earlier.length - 1].after(node);
    else this.root.prepend(node);
    this.request = node;
  }

  step(n) {
    if (!this.steps.has(n)) this.steps.set(n, { reasoning: null, text: null });
    return this.steps.get(n);
  }

  reasoningOf(n) {
    const s = this.step(n);
    if (!s.reasoning) {
      const node = document.createTextNode("");
      const details = el(
        "details",
        { cls: "reasoning", attrs: { "data-step": n } },
        el("summary", { text: "Reasoning" }),
        el("p", { cls: "reasoning-text" }, node),
      );
      this.root.append(details);
      s.reasoning = { details, node };
    }
    return s.reasoning;
  }

  textOf(n) {
    const s = this.step(n);
    if (!s.text) {
      const p = el("div", { cls: "text md", attrs: { "data-step": n } });
      this.root.append(p);
      s.text = { p, raw: "" };
    }
    this.lastText = s.text;
    return s.text;
  }

  thenAll(text) {
    for (const card of this.awaitingNext) card.then(text);
    this.awaitingNext = [];
  }

  /** Draw one agent event. */
  add(ev) {
    switch (ev.type) {
      case "run_started":
        break;
      case "reasoning_delta":
        this.reasoningOf(ev.step).node.appendData(ev.text);
        break;
      case "text_delta": {
        const text = this.textOf(ev.step);
        text.raw += ev.text;
        renderInto(text.p, text.raw);
        break;
      }
      case "tool_call": {
        const again = this.awaitingNext.some((c) => c.name === ev.name);
        this.thenAll(`Then the agent called ${toolTitle(ev.name)}${again ? " again" : ""}.`);
        const card = new ToolCard(ev);
        this.cards.set(ev.call_id, card);
        this.root.append(card.node);
        break;
      }
      case "confirmation_required": {
        const card = this.cards.get(ev.call_id);
        if (card) card.waitFor(ev, this.hooks.onReview);
        this.hooks.onConfirm(ev);
        break;
      }
      case "confirmation_resolved": {
        const card = this.cards.get(ev.call_id);
        if (card) card.resolved(ev);
        this.hooks.onResolved(ev);
        break;
      }
      case "tool_result": {
        let card = this.cards.get(ev.call_id);
        if (!card) {
          card = new ToolCard({ ...ev, arguments: {} });
          this.cards.set(ev.call_id, card);
          this.root.append(card.node);
        }
        card.result(ev, this.hooks.loadArtifact);
        if (!ev.ok) this.awaitingNext.push(card);
        break;
      }
      case "revision_requested": {
        const draft = this.lastText;
        if (draft) draft.p.classList.add("withdrawn");
        const figures = (ev.unverified_numbers || []).join(", ");
        const why =
          ev.reason === "unfinished_action"
            ? "The draft did not do what was asked; the agent was reminded to do it, or to say why not."
            : ev.reason === "nameless"
            ? "The draft did not say which one it meant; the agent was asked to name it."
            : ev.reason === "language"
            ? "The draft was not in the language of the request; the agent was asked to answer in it."
            : `The draft stated ${figures} without a tool result to back it; the agent was asked to check.`;
        this.root.append(el("p", { cls: "note", text: why }));
        this.lastText = null;
        break;
      }
      case "step_finished":
        break;
      case "run_finished":
        this.finish(ev);
        break;
      case "run_failed":
        this.thenAll("Then the errand stopped.");
        for (const card of this.cards.values()) card.abandon();
        this.root.append(el("p", { cls: "failure", attrs: { role: "alert" }, text: failureText(ev) }));
        this.ended = ev;
        this.hooks.onEnd(ev);
        break;
      default:
        break;
    }
  }

  finish(ev) {
    this.thenAll("Then the agent answered.");
    let answer = this.lastText && !this.lastText.p.classList.contains("withdrawn") ? this.lastText.p : null;
    if (!answer) {
      answer = el("div", {});
      this.root.append(answer);
    }
    answer.className = "answer md";
    renderInto(answer, ev.answer);
    answer.setAttribute("aria-label", "Answer");
    if (ev.outcome === "not_done") {
      this.root.append(
        el("p", { cls: "note", text: "You asked for a change (a booking, an order) and nothing was done." }),
      );
    }
    if (ev.unverified_numbers && ev.unverified_numbers.length) {
      this.root.append(
        el("p", {
          cls: "note",
          text: `Check these figures: no tool result states ${ev.unverified_numbers.join(", ")}.`,
        }),
      );
    }
    const shown = new Set([...this.root.querySelectorAll("[data-artifact]")].map((f) => f.dataset.artifact));
    for (const path of ev.artifacts || []) {
      if (!shown.has(baseName(path))) this.root.append(chartFigure(path, "the answer", this.hooks.loadArtifact));
    }
    if (ev.steps) {
      const steps = ev.steps === 1 ? "1 step" : `${ev.steps} steps`;
      this.root.append(el("p", { cls: "run-meta", text: `${steps} · ${formatDuration(ev.duration_ms)}` }));
    }
    this.ended = ev;
    this.hooks.onEnd(ev);
  }
}

export function failureText(ev) {
  const what = {
    budget: "The errand ran out of its step or time budget.",
    repeated_call: "The errand stopped: the agent kept repeating itself.",
    model_error: "The model failed.",
    confirmation_required: "The errand needed an approval it could not get.",
    cancelled: "The errand was cancelled.",
    error: "The errand failed.",
  }[ev.kind] || "The errand failed.";
  const said = ev.reason && !(ev.kind === "cancelled" && /cancel/i.test(ev.reason));
  return said ? `${what} ${ev.reason}` : what;
}
