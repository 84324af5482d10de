// A run's event stream: Server-Sent Events read with fetch, so the request can carry the API key
// and Last-Event-ID. When the connection drops, it reconnects from the last event it handed on,
// with backoff, until the run's last event (run_finished or run_failed) arrives.

import { errorOf } from "./api.js";

const TERMINAL = new Set(["run_finished", "run_failed"]);

/** Parse one SSE block ("id: 3\nevent: x\ndata: {...}") into {id, type, data}, or null. */
export function parseBlock(block) {
  let id = null;
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") id = value;
    else if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  return { id: id === null ? null : Number(id), type, data: JSON.parse(data.join("\n")) };
}

/**
 * A run's events by seq, each kept once. The server may send an event again (a reconnect that
 * overlaps); a seq that comes back with another event id means the server redid a step that a
 * crash cut short, and everything from that seq on is replaced.
 */
export class EventLog {
  constructor() {
    this.bySeq = new Map();
  }

  /** Keep ``stored`` ({id, data: {seq, ...}}): "new", "duplicate" or "rewrite". */
  add(stored) {
    const seq = stored.data.seq;
    const seen = this.bySeq.get(seq);
    if (seen && seen.id === stored.id) return "duplicate";
    if (seen) {
      for (const s of [...this.bySeq.keys()]) if (s >= seq) this.bySeq.delete(s);
      this.bySeq.set(seq, stored);
      return "rewrite";
    }
    this.bySeq.set(seq, stored);
    return "new";
  }

  /** The events in seq order. */
  ordered() {
    return [...this.bySeq.keys()].sort((a, b) => a - b).map((s) => this.bySeq.get(s));
  }
}

export class RunStream {
  /**
   * @param {object} o
   * @param {string} o.url the events URL
   * @param {() => object} o.headers auth headers for each (re)connection
   * @param {(ev: {id: number, type: string, data: object}) => void} o.onEvent
   * @param {(state: string, detail?: any) => void} o.onState "connecting" | "live" | "reconnecting" | "ended" | "failed"
   * @param {() => Promise<boolean>} o.hasEnded asked when a stream ends early: is the run over?
   * @param {number} [o.after] resume after this event id
   */
  constructor({ url, headers, onEvent, onState, hasEnded, after = 0 }) {
    this.url = url;
    this.headers = headers;
    this.onEvent = onEvent;
    this.onState = onState;
    this.hasEnded = hasEnded;
    this.lastEventId = after;
    this.stopped = false;
    this.done = false;
    this.controller = null;
    this.wake = null;
    this.onOnline = () => this.wake && this.wake();
  }

  start() {
    window.addEventListener("online", this.onOnline);
    this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    if (this.controller) this.controller.abort();
    if (this.wake) this.wake();
  }

  /** Wait before reconnecting; coming back online or stopping cuts the wait short. */
  pause(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  async loop() {
    let delay = 500;
    let first = true;
    while (!this.stopped && !this.done) {
      this.onState(first ? "connecting" : "reconnecting");
      first = false;
      try {
        const received = await this.once();
        if (received) delay = 500;
      } catch (err) {
        if (this.stopped) return;
        if (err && err.fatal) {
          this.onState("failed", err);
          return;
        }
        // a dropped connection or a server restarting: try again below
      }
      if (this.stopped || this.done) break;
      let ended = false;
      try {
        ended = await this.hasEnded();
      } catch {
        ended = false;
      }
      if (ended) {
        this.done = true;
        break;
      }
      this.onState("reconnecting");
      await this.pause(delay);
      delay = Math.min(delay * 2, 5000);
    }
    window.removeEventListener("online", this.onOnline);
    if (!this.stopped) this.onState("ended");
  }

  /** One connection: read events until the stream ends; true when any event arrived. */
  async once() {
    this.controller = new AbortController();
    const headers = { ...this.headers(), Accept: "text/event-stream" };
    if (this.lastEventId) headers["Last-Event-ID"] = String(this.lastEventId);
    const response = await fetch(this.url, { headers, signal: this.controller.signal, cache: "no-store" });
    if (!response.ok) {
      const err = await errorOf(response);
      // 4xx (but 408 and 429) will not change by retrying: say so and stop
      err.fatal = response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status);
      throw err;
    }
    this.onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let received = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        // Normalise line ends, keeping a trailing \r that may pair with the next chunk's \n.
        const tail = buffer.endsWith("\r") ? "\r" : "";
        buffer = buffer.slice(0, buffer.length - tail.length).replace(/\r\n?/g, "\n") + tail;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const ev = parseBlock(block);
          if (!ev) continue;
          received = true;
          this.onEvent(ev);
          if (ev.id !== null && !Number.isNaN(ev.id)) this.lastEventId = ev.id;
          if (TERMINAL.has(ev.type)) {
            this.done = true;
            this.controller.abort();
            return received;
          }
        }
      }
    } finally {
      reader.releaseLock();
    }
    return received;
  }
}
