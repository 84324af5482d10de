// The runs API (docs/server.md), as the page uses it. Every call sends the API key; errors
// arrive in OpenAI's envelope and become ApiError with the server's own message.

export class ApiError extends Error {
  /** @param {string} message @param {number} status @param {string|null} code */
  constructor(message, status, code = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** A random id for Idempotency-Key (crypto.randomUUID needs a secure context; this does not). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The ApiError of a failed response. */
export async function errorOf(response) {
  let message = `The server answered ${response.status}.`;
  let code = null;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) {
      message = body.error.message;
      code = body.error.code || null;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(message, response.status, code);
}

export class Api {
  /** @param {string} key */
  constructor(key) {
    this.key = key;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.key}`, ...extra };
  }

  async request(method, path, body = undefined, extraHeaders = {}) {
    const headers = this.headers(extraHeaders);
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError("The server cannot be reached. Check the connection and try again.", 0, "network");
    }
    if (!response.ok) throw await errorOf(response);
    return response.json();
  }

  listRuns(limit = 50) {
    return this.request("GET", `/v1/runs?limit=${limit}`).then((r) => r.data);
  }

  getRun(id) {
    return this.request("GET", `/v1/runs/${encodeURIComponent(id)}`);
  }

  /** Start a run; images are data: URLs. With ``threadId`` it is the next message of that
   * conversation (it starts from the earlier turns); without, it starts a new one. */
  createRun(input, images = [], threadId = null) {
    const body = images.length ? { input, images } : { input };
    if (threadId) body.thread_id = threadId;
    return this.request("POST", "/v1/runs", body, { "Idempotency-Key": randomId() });
  }

  /** My conversations, newest message first. */
  listThreads(limit = 50) {
    return this.request("GET", `/v1/threads?limit=${limit}`).then((r) => r.data);
  }

  /** A conversation's runs, oldest first. */
  threadRuns(id) {
    return this.request("GET", `/v1/threads/${encodeURIComponent(id)}/runs`).then((r) => r.data);
  }

  /** Approve; ``changes`` (editable arguments with new values) asks for the changed call instead. */
  approve(id, note = "", changes = null) {
    const body = changes ? { note, arguments: changes } : { note };
    return this.request("POST", `/v1/runs/${encodeURIComponent(id)}/approve`, body);
  }

  reject(id, note = "") {
    return this.request("POST", `/v1/runs/${encodeURIComponent(id)}/reject`, { note });
  }

  cancel(id) {
    return this.request("POST", `/v1/runs/${encodeURIComponent(id)}/cancel`);
  }

  /** The run's stored events after an event id, as JSON (no stream). */
  events(id, after = 0) {
    return this.request("GET", `/v1/runs/${encodeURIComponent(id)}/events?stream=false&after=${after}`).then(
      (r) => r.data,
    );
  }

  /** The run's timeline: steps, model and tool times, tokens, cost (what `errand runs show
   * --trace` draws). */
  trace(id) {
    return this.request("GET", `/v1/runs/${encodeURIComponent(id)}/trace`);
  }

  eventsUrl(id) {
    return `/v1/runs/${encodeURIComponent(id)}/events`;
  }

  /** A file a run's tool saved, as a blob: URL (an <img> cannot send the key itself). */
  async artifact(id, name) {
    let response;
    try {
      response = await fetch(`/v1/runs/${encodeURIComponent(id)}/artifacts/${encodeURIComponent(name)}`, {
        headers: this.headers(),
      });
    } catch {
      throw new ApiError("The chart could not be loaded (no connection).", 0, "network");
    }
    if (!response.ok) throw await errorOf(response);
    return URL.createObjectURL(await response.blob());
  }
}
