import { SandboxEventSchema, type SandboxEvent } from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { InvalidResponseError, cutError } from "./errors.js";
import { HttpClient } from "./http.js";

export interface EventStreamOptions {
  /** Start after this event (its `seq`): the daemon first sends the kept events since. */
  after?: number;
  /** Ends the stream. */
  signal?: AbortSignal;
}

export interface EventsOptions extends ClientOptions, EventStreamOptions {
  /** Only this sandbox's events. */
  sandboxId?: string;
}

/** One server-sent event's fields (comments and fields other than these are skipped). */
interface SseFrame {
  event?: string;
  data: string;
}

/** Splits a text/event-stream body into events, per the HTML spec's parsing rules. */
async function* sseFrames(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseFrame> {
  const decoder = new TextDecoder();
  let buffered = "";
  let frame: SseFrame = { data: "" };
  let hasData = false;
  const line = (text: string): SseFrame | undefined => {
    if (text === "") {
      const done = hasData ? frame : undefined;
      frame = { data: "" };
      hasData = false;
      return done;
    }
    if (text.startsWith(":")) return undefined;
    const at = text.indexOf(":");
    const field = at < 0 ? text : text.slice(0, at);
    const value = at < 0 ? "" : text.slice(at + 1).replace(/^ /, "");
    if (field === "event") frame.event = value;
    if (field === "data") {
      frame.data += hasData ? `\n${value}` : value;
      hasData = true;
    }
    return undefined;
  };
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.search(/\r\n|\n|\r/)) >= 0) {
      const sep = buffered.startsWith("\r\n", nl) ? 2 : 1;
      const done = line(buffered.slice(0, nl));
      buffered = buffered.slice(nl + sep);
      if (done) yield done;
    }
  }
}

/**
 * The daemon's lifecycle events (`GET /v1/events`), each checked against its schema, until
 * `signal` aborts, the caller stops iterating, or the connection ends.
 */
export async function* streamEvents(
  http: HttpClient,
  options: EventStreamOptions & { sandboxId?: string } = {},
): AsyncGenerator<SandboxEvent> {
  const { sandboxId, after, signal } = options;
  const res = await http.send("GET", "/v1/events", {
    query: { sandboxId, after: after === undefined ? undefined : String(after) },
    signal,
  });
  const body = res.body;
  if (!body) return;
  const what = "the event stream";
  try {
    for await (const frame of sseFrames(body as unknown as AsyncIterable<Uint8Array>)) {
      let value: unknown;
      try {
        value = JSON.parse(frame.data);
      } catch {
        value = undefined;
      }
      const parsed = SandboxEventSchema.safeParse(value);
      if (!parsed.success) {
        throw new InvalidResponseError(
          "invalid_response",
          `${what} sent an event that is not one: ${frame.data.slice(0, 200)}`,
          200,
          undefined,
          { cause: parsed.error },
        );
      }
      yield parsed.data;
    }
  } catch (err) {
    // An abort ends the stream quietly: the caller asked for it.
    if (signal?.aborted) return;
    throw cutError(err, what, "network_error", signal);
  } finally {
    body.cancel().catch(() => {});
  }
}

/**
 * Sandbox lifecycle events: created, paused, resumed, failed (with its reason), terminated and
 * expired. A key sees its own sandboxes' events; the admin token sees all.
 *
 * @example
 * ```ts
 * const stop = new AbortController();
 * for await (const event of Events.stream({ signal: stop.signal })) {
 *   console.log(event.time, event.type, event.sandboxId, event.reason ?? "");
 * }
 * ```
 */
export class Events {
  static stream(options: EventsOptions = {}): AsyncGenerator<SandboxEvent> {
    const { sandboxId, after, signal, ...client } = options;
    return streamEvents(new HttpClient(client), { sandboxId, after, signal });
  }
}
