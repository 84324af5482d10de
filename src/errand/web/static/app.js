// The page: sign-in, the conversation list (the user's threads), one conversation: its earlier
// turns, then its latest run with its live event stream, approvals, attachments. A message
// sent while a conversation is open is its next turn (a run in the same thread). State that must survive a reload lives on the
// server (the run, its events, its pending confirmation) and in the URL (#run id).

import { Api, ApiError } from "./api.js";
import { ConfirmDialog } from "./confirm.js";
import { formatWhen, STATUS_WORDS } from "./format.js";
import { Phase } from "./phase.js";
import { renderInto } from "./markdown.js";
import { el, Transcript } from "./render.js";
import { EventLog, RunStream } from "./stream.js";
import { timelineOf } from "./timeline.js";

const KEY_STORAGE = "errand.apiKey";
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const MAX_IMAGE_BYTES = 1_500_000;
const MAX_IMAGE_SIDE = 1600;

const $ = (id) => document.getElementById(id);

const ui = {
  signInView: $("sign-in-view"),
  signInForm: $("sign-in-form"),
  keyInput: $("api-key"),
  signInError: $("sign-in-error"),
  appView: $("app-view"),
  sessionActions: $("session-actions"),
  whoami: $("whoami"),
  signOut: $("sign-out"),
  toggleRuns: $("toggle-runs"),
  runsPanel: $("runs-panel"),
  runsList: $("runs-list"),
  runsEmpty: $("runs-empty"),
  newRun: $("new-run"),
  status: $("run-status"),
  spinner: $("run-spinner"),
  elapsed: $("run-elapsed"),
  reviewPending: $("review-pending"),
  cancelRun: $("cancel-run"),
  transcript: $("transcript"),
  welcome: $("welcome"),
  composer: $("composer"),
  input: $("composer-input"),
  attach: $("attach"),
  attachInput: $("attach-input"),
  attachments: $("attachments"),
  composerError: $("composer-error"),
  send: $("send"),
};

const app = {
  api: null,
  runs: [],
  view: null,
  attachments: [],
  sentImages: new Map(), // run id -> the data URLs this page sent with it
};

/** One run on screen: its transcript, its stream, and the events seen (by seq). */
class RunView {
  constructor(run) {
    this.run = run;
    this.id = run.id;
    this.events = new EventLog();
    this.pending = null;
    this.openTimer = null;
    this.ended = null;
    this.streamState = "connecting";
    this.objectUrls = [];
    this.phase = new Phase();
    this.ticker = null;
    this.transcript = new Transcript(ui.transcript, {
      loadArtifact: (name) => this.loadArtifact(name),
      onConfirm: (ev) => this.onConfirm(ev),
      onResolved: (ev) => this.onResolved(ev),
      onReview: (ev) => this.review(ev),
      onEnd: (ev) => this.onEnd(ev),
    });
  }

  start() {
    this.transcript.clear();
    this.showEarlier();
    this.transcript.showRequest(this.run.input, app.sentImages.get(this.id) || []);
    if (this.run.pending && !FINISHED.has(this.run.status)) {
      this.pending = this.run.pending;
      dialog.open(this.run.pending);
    }
    this.stream = new RunStream({
      url: app.api.eventsUrl(this.id),
      headers: () => app.api.headers(),
      onEvent: (ev) => this.accept(ev),
      onState: (state, detail) => this.onStreamState(state, detail),
      hasEnded: () => this.hasEnded(),
    }).start();
    this.ticker = setInterval(() => this.tick(), 1000);
    this.updateHead();
  }

  stop() {
    if (this.stream) this.stream.stop();
    clearInterval(this.ticker);
    clearTimeout(this.openTimer);
    if (dialog.ev && dialog.ev.run_id === this.id) dialog.close();
    for (const url of this.objectUrls) URL.revokeObjectURL(url);
  }

  /** The conversation's earlier turns (each message and its answer), above this run. */
  showEarlier() {
    for (const turn of this.earlier || []) {
      const bubble = el("div", { cls: "msg-user", attrs: { "aria-label": "Your message" } }, el("span", { text: turn.input }));
      ui.transcript.append(el("div", { cls: "msg-user-row earlier" }, bubble));
      const answer = el("div", { cls: "answer md earlier", attrs: { "aria-label": "Earlier answer" } });
      renderInto(answer, turn.answer || turn.error || "");
      ui.transcript.append(answer);
    }
  }

  async loadArtifact(name) {
    const url = await app.api.artifact(this.id, name);
    this.objectUrls.push(url);
    return url;
  }

  /** One stored event: what was seen is skipped; a step the server redid after a crash is
   * redrawn from where it changed. */
  accept(stored) {
    const data = stored.data;
    const follow = nearBottom();
    const kind = this.events.add(stored);
    if (kind === "duplicate") return;
    if (kind === "rewrite") this.redraw();
    else {
      this.transcript.add(data);
      this.phase.add(data);
    }
    if (follow) scrollToBottom();
    this.updateHead();
  }

  redraw() {
    this.pending = null;
    this.ended = null;
    this.phase = new Phase();
    this.transcript.clear();
    this.showEarlier();
    this.transcript.showRequest(this.run.input, app.sentImages.get(this.id) || []);
    for (const stored of this.events.ordered()) {
      this.transcript.add(stored.data);
      this.phase.add(stored.data);
    }
  }

  onConfirm(ev) {
    this.pending = ev;
    clearTimeout(this.openTimer);
    // Replayed history brings the answer right after; only a confirmation still open is shown.
    this.openTimer = setTimeout(() => {
      if (app.view === this && this.pending === ev && !this.ended) {
        dialog.open(ev);
        refreshRuns();
      }
    }, 250);
    this.updateHead();
  }

  onResolved(ev) {
    if (this.pending && this.pending.call_id === ev.call_id) this.pending = null;
    if (dialog.callId === ev.call_id) dialog.close();
    this.updateHead();
    refreshRuns();
  }

  review(ev) {
    if (this.pending && this.pending.call_id === ev.call_id) dialog.open(this.pending);
  }

  onEnd(ev) {
    this.ended = ev;
    this.pending = null;
    clearTimeout(this.openTimer);
    if (dialog.ev && dialog.ev.run_id === this.id) dialog.close();
    this.updateHead();
    refreshRuns();
    this.showTimeline(ev);
  }

  /** Below the ended run: its timeline, folded (steps, model and tool times, tokens, cost). */
  async showTimeline(ev) {
    let node;
    try {
      node = timelineOf(await app.api.trace(this.id));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return; // the stream signs out
      node = el("p", { cls: "run-meta timeline", text: `The timeline could not be loaded: ${err.message}` });
    }
    // Drawn once, for the run on screen and the end it had (a redraw ends it again).
    if (app.view !== this || this.ended !== ev) return;
    for (const old of ui.transcript.querySelectorAll(":scope > .timeline")) old.remove();
    const follow = nearBottom();
    ui.transcript.append(node);
    if (follow) scrollToBottom();
  }

  onStreamState(state, detail) {
    this.streamState = state;
    if (state === "failed" && detail instanceof ApiError && detail.status === 401) {
      signOut(`The key was refused: ${detail.message}`);
      return;
    }
    if (state === "failed") this.failure = detail;
    if (state === "ended" && !this.ended) this.settle();
    this.updateHead();
  }

  /** The run ended but its last event was not among those streamed (a run cancelled while it
   * waited writes it a moment after its state changes): read what came since, else say how the
   * run ended from its record. */
  async settle() {
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      const after = this.stream ? this.stream.lastEventId : 0;
      const events = await app.api.events(this.id, after);
      for (const ev of events) this.accept(ev);
    } catch {
      // the record below still tells how it ended
    }
    if (this.ended || app.view !== this) return;
    const run = this.run;
    if (run.status === "succeeded") {
      this.transcript.add({ type: "run_finished", answer: run.answer || "", artifacts: [] });
    } else if (FINISHED.has(run.status)) {
      const kind = run.status === "cancelled" ? "cancelled" : "error";
      this.transcript.add({ type: "run_failed", reason: run.error || "", kind });
    }
  }

  async hasEnded() {
    try {
      const run = await app.api.getRun(this.id);
      this.run = run;
      return FINISHED.has(run.status);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        signOut(`The key was refused: ${err.message}`);
        return true;
      }
      if (err instanceof ApiError && err.status === 404) {
        this.failure = err;
        return true;
      }
      return false;
    }
  }

  /** Once a second: the seconds spent in this phase (not in the live region: a screen reader
   * hears the phase change, not every tick). */
  tick() {
    if (app.view !== this) return;
    const working = this.working();
    ui.spinner.hidden = !working;
    ui.elapsed.hidden = !working;
    if (working) ui.elapsed.textContent = `${this.phase.seconds()} s`;
  }

  /** The agent is at work (not waiting for the person, the connection, or done). */
  working() {
    return !this.ended && !this.pending && this.streamState === "live" && !this.phase.ended;
  }

  updateHead() {
    const busy = !this.ended && this.streamState !== "failed";
    ui.transcript.setAttribute("aria-busy", busy && this.streamState === "live" ? "true" : "false");
    ui.reviewPending.hidden = !this.pending || !!this.ended;
    ui.cancelRun.hidden = !!this.ended || FINISHED.has(this.run.status) || this.streamState === "failed";
    let text;
    if (this.ended) {
      text = this.ended.type === "run_finished" ? "Done." : "Stopped.";
    } else if (this.streamState === "failed") {
      text = this.failure ? this.failure.message : "The events could not be read.";
    } else if (this.streamState === "ended") {
      text = this.failure ? this.failure.message : "Ended.";
    } else if (this.streamState === "reconnecting") {
      text = "Connection lost. Reconnecting…";
    } else if (this.streamState === "connecting") {
      text = "Connecting…";
    } else if (this.pending) {
      text = "Waiting for your approval.";
    } else {
      text = `${this.phase.text || "Working"}…`;
    }
    if (ui.status.textContent !== text) ui.status.textContent = text;
    this.tick();
  }
}

const dialog = new ConfirmDialog($("confirm"), async (ev, approved, note, changes) => {
  const view = app.view;
  const runId = ev.run_id || (view && view.id);
  try {
    if (approved) await app.api.approve(runId, note, changes);
    else await app.api.reject(runId, note);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) signOut(`The key was refused: ${err.message}`);
    throw err;
  }
  // Only this confirmation: a changed call's new one (same call id) may have arrived meanwhile.
  const same = view && view.pending && view.pending.call_id === ev.call_id && view.pending.seq === ev.seq;
  if (view && view.id === runId && same) {
    view.pending = null;
    view.updateHead();
  }
  refreshRuns();
});

function nearBottom() {
  const t = ui.transcript;
  return t.scrollHeight - t.scrollTop - t.clientHeight < 120;
}

// Follow the conversation while the person is at its end; a chart that loads later (and
// pushes the end down) keeps it followed.
let following = true;
ui.transcript.addEventListener("scroll", () => {
  following = nearBottom();
});
ui.transcript.addEventListener(
  "load",
  () => {
    if (following) scrollToBottom();
  },
  true,
);

function scrollToBottom() {
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

// ---- sign-in ------------------------------------------------------------------------------

function showSignIn(message = "") {
  ui.appView.hidden = true;
  ui.sessionActions.hidden = true;
  ui.signInView.hidden = false;
  ui.signInError.textContent = message;
  ui.keyInput.value = "";
  ui.keyInput.focus();
}

function showApp() {
  ui.signInView.hidden = true;
  ui.appView.hidden = false;
  ui.sessionActions.hidden = false;
  const parts = app.api.key.split("-");
  ui.whoami.textContent = parts.length > 2 ? `Key ${parts.slice(0, 2).join("-")}` : "Signed in";
}

async function signIn(key, { remembered = false } = {}) {
  const api = new Api(key);
  try {
    app.runs = asRuns(await api.listThreads());
  } catch (err) {
    if (remembered && err.status === 401) localStorage.removeItem(KEY_STORAGE);
    showSignIn(err.status === 401 ? "That key was not accepted. Check it and try again." : err.message);
    return false;
  }
  localStorage.setItem(KEY_STORAGE, key);
  app.api = api;
  showApp();
  renderRuns();
  await openFromHash();
  if (!app.view) ui.input.focus();
  return true;
}

function signOut(message = "") {
  localStorage.removeItem(KEY_STORAGE);
  closeView();
  app.api = null;
  app.runs = [];
  app.sentImages.clear();
  clearAttachments();
  ui.runsList.replaceChildren();
  if (location.hash) history.replaceState(null, "", location.pathname);
  showSignIn(message);
}

ui.signInForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const key = ui.keyInput.value.trim();
  if (!key) {
    ui.signInError.textContent = "Paste your API key first.";
    ui.keyInput.focus();
    return;
  }
  const button = $("sign-in-button");
  button.disabled = true;
  ui.signInError.textContent = "";
  try {
    await signIn(key);
  } finally {
    button.disabled = false;
  }
});

ui.signOut.addEventListener("click", () => signOut("Signed out."));

// ---- the conversation list ----------------------------------------------------------------

/** Threads as the list draws them: each opens at its latest run. */
function asRuns(threads) {
  return threads.map((t) => ({
    id: t.last_run_id,
    thread_id: t.id,
    input: t.title,
    status: t.last_status,
    created_at: t.updated_at,
  }));
}

function renderRuns() {
  const current = app.view ? app.view.run.thread_id || app.view.id : null;
  ui.runsEmpty.hidden = app.runs.length > 0;
  ui.runsList.replaceChildren(
    ...app.runs.map((run) => {
      const status = STATUS_WORDS[run.status] || run.status;
      const meta = el("span", { cls: "run-meta" });
      meta.append(
        el("span", { cls: run.status === "awaiting_confirmation" ? "needs-you" : "", text: status }),
        ` · ${formatWhen(run.created_at)}`,
      );
      const button = el(
        "button",
        {
          attrs: {
            type: "button",
            "data-run": run.id,
            "data-thread": run.thread_id || "",
            "aria-current": (run.thread_id || run.id) === current ? "true" : "false",
          },
        },
        el("span", { cls: "run-title", text: run.input }),
        meta,
      );
      button.addEventListener("click", () => {
        setRunsPanel(false);
        if (location.hash.slice(1) === run.id) openFromHash();
        else location.hash = run.id;
      });
      return el("li", {}, button);
    }),
  );
}

let refreshing = null;
let refreshAgain = false;
/** Reload the conversation list (once more after the current load, if one is under way). */
function refreshRuns() {
  if (!app.api) return;
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = app.api
    .listThreads()
    .then((threads) => {
      app.runs = asRuns(threads);
      renderRuns();
    })
    .catch((err) => {
      if (err instanceof ApiError && err.status === 401) signOut(`The key was refused: ${err.message}`);
    })
    .finally(() => {
      refreshing = null;
      if (refreshAgain) {
        refreshAgain = false;
        refreshRuns();
      }
    });
}

function setRunsPanel(open) {
  ui.runsPanel.classList.toggle("open", open);
  ui.toggleRuns.setAttribute("aria-expanded", open ? "true" : "false");
  if (open) {
    const first = ui.runsPanel.querySelector("button");
    if (first) first.focus();
  }
}

ui.toggleRuns.addEventListener("click", () => setRunsPanel(!ui.runsPanel.classList.contains("open")));
ui.runsPanel.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && ui.runsPanel.classList.contains("open")) {
    setRunsPanel(false);
    ui.toggleRuns.focus();
  }
});

ui.newRun.addEventListener("click", () => {
  setRunsPanel(false);
  if (location.hash) history.pushState(null, "", location.pathname);
  closeView();
  ui.input.focus();
});

// ---- one conversation ---------------------------------------------------------------------

function closeView() {
  if (app.view) app.view.stop();
  app.view = null;
  ui.transcript.replaceChildren(ui.welcome);
  ui.status.textContent = "";
  ui.spinner.hidden = true;
  ui.elapsed.hidden = true;
  ui.reviewPending.hidden = true;
  ui.cancelRun.hidden = true;
  renderRuns();
}

let opening = null;
/** Show the run the URL names (#run id), or the welcome when it names none. */
async function openFromHash() {
  if (!app.api) return;
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id) {
    closeView();
    return;
  }
  if ((app.view && app.view.id === id) || opening === id) return;
  closeView();
  opening = id;
  let run;
  try {
    run = await app.api.getRun(id);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut(`The key was refused: ${err.message}`);
      return;
    }
    ui.status.textContent = err.status === 404 ? "That conversation was not found." : err.message;
    return;
  } finally {
    if (opening === id) opening = null;
  }
  let earlier = [];
  if (run.thread_id) {
    try {
      earlier = (await app.api.threadRuns(run.thread_id)).filter((r) => r.created_at < run.created_at);
    } catch (err) {
      earlier = []; // the run itself still shows
    }
  }
  if (decodeURIComponent(location.hash.slice(1)) !== id || app.view) return; // moved on meanwhile
  app.view = new RunView(run);
  app.view.earlier = earlier;
  app.view.start();
  renderRuns();
}

window.addEventListener("hashchange", () => openFromHash());

ui.reviewPending.addEventListener("click", () => {
  if (app.view && app.view.pending) dialog.open(app.view.pending);
});

ui.cancelRun.addEventListener("click", async () => {
  const view = app.view;
  if (!view) return;
  ui.cancelRun.disabled = true;
  try {
    await app.api.cancel(view.id);
  } catch (err) {
    ui.status.textContent = err.message;
  } finally {
    ui.cancelRun.disabled = false;
  }
  refreshRuns();
});

// ---- the composer -------------------------------------------------------------------------

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new Error(`${file.name} could not be read.`));
    reader.readAsDataURL(file);
  });
}

/** A photo straight from a phone is large: send it at most MAX_IMAGE_SIDE pixels wide, as JPEG. */
async function imageDataUrl(file) {
  const raw = await readAsDataUrl(file);
  if (file.size <= MAX_IMAGE_BYTES) return raw;
  const img = new Image();
  img.src = raw;
  await img.decode();
  const scale = Math.min(1, MAX_IMAGE_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(img.naturalWidth * scale);
  canvas.height = Math.round(img.naturalHeight * scale);
  canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/jpeg", 0.85);
}

function renderAttachments() {
  ui.attachments.replaceChildren(
    ...app.attachments.map((a, i) => {
      const remove = el("button", {
        cls: "ghost",
        text: "Remove",
        attrs: { type: "button", "aria-label": `Remove ${a.name}` },
      });
      remove.addEventListener("click", () => {
        app.attachments.splice(i, 1);
        renderAttachments();
        ui.attach.focus();
      });
      return el("li", {}, el("img", { attrs: { src: a.url, alt: `Attached: ${a.name}` } }), remove);
    }),
  );
}

function clearAttachments() {
  app.attachments = [];
  renderAttachments();
}

ui.attach.addEventListener("click", () => ui.attachInput.click());
ui.attachInput.addEventListener("change", async () => {
  ui.composerError.textContent = "";
  for (const file of [...ui.attachInput.files]) {
    if (!file.type.startsWith("image/")) {
      ui.composerError.textContent = `${file.name} is not an image; only images can be attached.`;
      continue;
    }
    try {
      app.attachments.push({ name: file.name, url: await imageDataUrl(file) });
    } catch (err) {
      ui.composerError.textContent = err.message;
    }
  }
  ui.attachInput.value = "";
  renderAttachments();
});

ui.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});

ui.composer.addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = ui.input.value.trim();
  ui.composerError.textContent = "";
  if (!input) {
    ui.composerError.textContent = "Say what you want done first.";
    ui.input.focus();
    return;
  }
  const images = app.attachments.map((a) => a.url);
  ui.send.disabled = true;
  try {
    // A message while a conversation is open is its next turn (it answers a question the agent asked).
    const threadId = app.view ? app.view.run.thread_id : null;
    const run = await app.api.createRun(input, images, threadId);
    app.sentImages.set(run.id, images);
    ui.input.value = "";
    clearAttachments();
    const title = threadId ? (app.runs.find((r) => r.thread_id === threadId) || run).input : run.input;
    const entry = { ...run, input: title };
    app.runs = [entry, ...app.runs.filter((r) => (r.thread_id || r.id) !== (run.thread_id || run.id))];
    location.hash = run.id;
    refreshRuns();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut(`The key was refused: ${err.message}`);
      return;
    }
    ui.composerError.textContent = err.message;
    ui.input.focus();
  } finally {
    ui.send.disabled = false;
  }
});

// ---- start --------------------------------------------------------------------------------

const remembered = localStorage.getItem(KEY_STORAGE);
if (remembered) signIn(remembered, { remembered: true });
else showSignIn();
