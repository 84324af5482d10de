// The approval dialog: what a write or payment will do (item, dates, names, amount, account),
// and Approve / Reject with an optional note for the agent.

import { formatMoney, toolTitle } from "./format.js";
import { argList } from "./render.js";

export class ConfirmDialog {
  /**
   * @param {HTMLDialogElement} dialog
   * @param {(ev: object, approved: boolean, note: string) => Promise<void>} decide
   */
  constructor(dialog, decide) {
    this.dialog = dialog;
    this.decide = decide;
    this.ev = null;
    this.$ = (id) => dialog.querySelector(`#${id}`);
    this.$("confirm-approve").addEventListener("click", () => this.answer(true));
    this.$("confirm-reject").addEventListener("click", () => this.answer(false));
    this.$("confirm-later").addEventListener("click", () => this.close());
    dialog.addEventListener("close", () => {
      this.ev = null;
    });
  }

  /** The call the open dialog is about, or null. */
  get callId() {
    return this.dialog.open && this.ev ? this.ev.call_id : null;
  }

  /** Show ``ev`` (a confirmation_required event, or a run's ``pending``); no-op if already shown. */
  open(ev) {
    if (this.callId === ev.call_id) return;
    this.ev = ev;
    const payment = ev.risk === "payment" || ev.amount !== null;
    this.$("confirm-title").textContent = payment ? "Approve this payment?" : "Approve this action?";
    this.$("confirm-tool").textContent = `${toolTitle(ev.name)} · waits for you`;
    this.$("confirm-amount").textContent = formatMoney(ev.amount, ev.currency);
    this.$("confirm-summary").textContent = ev.summary || "";
    this.$("confirm-args").replaceWith(Object.assign(argList(ev.arguments), { id: "confirm-args" }));
    this.$("confirm-note").value = "";
    this.$("confirm-error").textContent = "";
    this.busy(false);
    if (!this.dialog.open) this.dialog.showModal();
    this.$("confirm-later").focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
    this.ev = null;
  }

  busy(on) {
    for (const id of ["confirm-approve", "confirm-reject", "confirm-later"]) this.$(id).disabled = on;
    this.dialog.setAttribute("aria-busy", on ? "true" : "false");
  }

  async answer(approved) {
    const ev = this.ev;
    if (!ev) return;
    this.busy(true);
    this.$("confirm-error").textContent = "";
    try {
      await this.decide(ev, approved, this.$("confirm-note").value.trim());
      if (this.ev === ev) this.close();
    } catch (err) {
      this.$("confirm-error").textContent = err.message;
      this.busy(false);
    }
  }
}
