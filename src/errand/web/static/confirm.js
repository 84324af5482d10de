// The approval dialog: what a write or payment will do (item, dates, names, amount, account),
// and Approve / Reject with an optional note for the agent. The arguments the tool marks
// editable (``ev.editable``: name -> JSON schema) are a form: a changed call goes back with the
// approval, the agent prices it again, and the dialog opens once more for the new call.

import { argName, formatMoney, toolTitle } from "./format.js";
import { argList, el } from "./render.js";

/** Whether a schema is a list of plain text (names): typed as ``A, B``. */
function isTextList(schema) {
  return schema.type === "array" && (schema.items || {}).type === "string";
}

/** An argument as a person edits it in one field. */
function fieldText(value, schema) {
  if (value === null || value === undefined) return "";
  if (isTextList(schema) && Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** What a person typed, as the schema's type; throws an Error naming the field when it cannot be read. */
function fieldValue(name, text, schema) {
  const t = text.trim();
  if (isTextList(schema)) {
    return t
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  }
  if (schema.type === "integer" || schema.type === "number") {
    const n = Number(t);
    if (t === "" || !Number.isFinite(n) || (schema.type === "integer" && !Number.isInteger(n))) {
      throw new Error(`${argName(name)}: give a ${schema.type === "integer" ? "whole " : ""}number.`);
    }
    return n;
  }
  if (schema.type === "string") return t;
  try {
    return JSON.parse(t);
  } catch {
    throw new Error(`${argName(name)}: not valid JSON.`);
  }
}

export class ConfirmDialog {
  /**
   * @param {HTMLDialogElement} dialog
   * @param {(ev: object, approved: boolean, note: string, changes: object | null) => Promise<void>} decide
   */
  constructor(dialog, decide) {
    this.dialog = dialog;
    this.decide = decide;
    this.ev = null;
    this.fields = new Map();
    this.$ = (id) => dialog.querySelector(`#${id}`);
    this.edit = el("fieldset", { cls: "edit", attrs: { id: "confirm-edit", hidden: true } });
    this.$("confirm-args").after(this.edit);
    this.$("confirm-approve").addEventListener("click", () => this.answer(true));
    this.$("confirm-reject").addEventListener("click", () => this.answer(false));
    this.$("confirm-later").addEventListener("click", () => this.close());
    this.edit.addEventListener("input", () => this.markChanged());
    dialog.addEventListener("close", () => {
      this.ev = null;
    });
  }

  /** The call the open dialog is about, or null. */
  get callId() {
    return this.dialog.open && this.ev ? this.ev.call_id : null;
  }

  /** Whether the dialog shows exactly ``ev``: a changed call is asked about again under the
   * same call id, as a new event (a new ``seq``), and must not be taken for the one before. */
  shows(ev) {
    return this.callId === ev.call_id && this.ev.seq === ev.seq;
  }

  /** Show ``ev`` (a confirmation_required event, or a run's ``pending``); no-op if already shown. */
  open(ev) {
    if (this.shows(ev)) return;
    this.ev = ev;
    const editable = ev.editable || {};
    const fixed = Object.fromEntries(Object.entries(ev.arguments || {}).filter(([k]) => !(k in editable)));
    const payment = ev.risk === "payment" || ev.amount !== null;
    this.$("confirm-title").textContent = payment ? "Approve this payment?" : "Approve this action?";
    this.$("confirm-tool").textContent = `${toolTitle(ev.name)} · waits for you`;
    this.$("confirm-amount").textContent = formatMoney(ev.amount, ev.currency);
    this.$("confirm-summary").textContent = ev.summary || "";
    this.$("confirm-args").replaceWith(Object.assign(argList(fixed), { id: "confirm-args" }));
    this.fill(ev, editable);
    this.$("confirm-note").value = "";
    this.$("confirm-error").textContent = "";
    this.busy(false);
    if (!this.dialog.open) this.dialog.showModal();
    this.$("confirm-later").focus();
  }

  /** One labelled field per editable argument, holding its value now. */
  fill(ev, editable) {
    this.fields.clear();
    const rows = [];
    for (const [name, schema] of Object.entries(editable)) {
      const id = `confirm-edit-${name}`;
      const value = fieldText((ev.arguments || {})[name], schema);
      const structured = !isTextList(schema) && !["string", "integer", "number"].includes(schema.type);
      const input = structured
        ? el("textarea", { attrs: { id, rows: 2 } })
        : el("input", {
            attrs: {
              id,
              type: schema.type === "integer" || schema.type === "number" ? "number" : "text",
              min: schema.type === "integer" ? 1 : null,
              autocomplete: "off",
            },
          });
      input.value = value;
      const hint = isTextList(schema) ? " (separate with commas)" : "";
      rows.push(el("label", { text: `${argName(name)}${hint}`, attrs: { for: id } }), input);
      this.fields.set(name, { input, schema, value });
    }
    this.edit.replaceChildren(
      ...(rows.length ? [el("legend", { text: "You can change" }), ...rows] : []),
      el("p", { cls: "muted hint", attrs: { id: "confirm-edit-hint", hidden: true } }),
    );
    this.edit.hidden = rows.length === 0;
    this.markChanged();
  }

  /** The fields the person changed, as the tool takes them (throws when one cannot be read). */
  changes() {
    const out = {};
    for (const [name, { input, schema, value }] of this.fields) {
      if (input.value.trim() !== value.trim()) out[name] = fieldValue(name, input.value, schema);
    }
    return out;
  }

  markChanged() {
    const changed = [...this.fields.values()].some(({ input, value }) => input.value.trim() !== value.trim());
    this.$("confirm-approve").textContent = changed ? "Approve with changes" : "Approve";
    const hint = this.edit.querySelector("#confirm-edit-hint");
    hint.textContent = changed ? "The changed call is priced again and shown to you before anything is done." : "";
    hint.hidden = !changed;
  }

  close() {
    if (this.dialog.open) this.dialog.close();
    this.ev = null;
  }

  busy(on) {
    for (const id of ["confirm-approve", "confirm-reject", "confirm-later"]) this.$(id).disabled = on;
    for (const { input } of this.fields.values()) input.disabled = on;
    this.dialog.setAttribute("aria-busy", on ? "true" : "false");
  }

  async answer(approved) {
    const ev = this.ev;
    if (!ev) return;
    this.$("confirm-error").textContent = "";
    let changes = null;
    try {
      if (approved) {
        const c = this.changes();
        if (Object.keys(c).length) changes = c;
      }
    } catch (err) {
      this.$("confirm-error").textContent = err.message;
      return;
    }
    this.busy(true);
    try {
      await this.decide(ev, approved, this.$("confirm-note").value.trim(), changes);
      if (this.ev === ev) this.close();
    } catch (err) {
      this.$("confirm-error").textContent = err.message;
      this.busy(false);
    }
  }
}
