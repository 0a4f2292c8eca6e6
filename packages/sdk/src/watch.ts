import { ERROR_CODES, ERROR_STATUS, WatchEventSchema, type WatchEvent } from "@paddock/protocol";
import { errorFromResponse, InvalidResponseError } from "./errors.js";
import { checkedValue, ndjson, type HttpClient } from "./http.js";

/** What a watch yields: a change, or `overflow` (the sandbox's kernel dropped some changes). */
export type WatchedEvent = Exclude<WatchEvent, { type: "ready" | "end" | "error" }>;

export interface WatchOptions {
  /** Also every directory below, including those made later (default false). */
  recursive?: boolean;
  /** Aborting stops the watch; the iteration then throws the abort. */
  signal?: AbortSignal;
}

const WHAT = "the watch's event stream";

/** One line of the stream, checked against the protocol. */
const checked = (raw: unknown): WatchEvent =>
  checkedValue(WatchEventSchema, raw, `${WHAT} sent an event`);

/**
 * A directory being watched, from `sandbox.fs.watch`: an async iterable of its changes, read
 * once. It ends when the directory is removed or moved away; `close()` (or leaving a
 * `for await` loop) stops the watch in the sandbox.
 */
export class DirectoryWatch implements AsyncIterable<WatchedEvent> {
  private closed = false;

  /** @internal */
  constructor(
    /** The watched directory, as the sandbox resolved it. */
    readonly path: string,
    private readonly events: AsyncGenerator<unknown>,
    private readonly controller: AbortController,
  ) {}

  /** Stops the watch; an iteration under way ends quietly. */
  close(): void {
    this.closed = true;
    this.controller.abort();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WatchedEvent> {
    try {
      for await (const raw of this.events) {
        const event = checked(raw);
        if (event.type === "end") return;
        if (event.type === "error") {
          const code = ERROR_CODES.find((c) => c === event.code) ?? "internal";
          throw errorFromResponse(ERROR_STATUS[code], { error: { code, message: event.message } });
        }
        if (event.type !== "ready") yield event;
      }
      if (!this.closed)
        throw new InvalidResponseError("invalid_response", `${WHAT} ended without its end`, 200);
    } catch (err) {
      if (!this.closed) throw err;
    } finally {
      this.close();
    }
  }
}

/** Opens a watch; resolves once it is in place (a change made after that is seen). */
export async function openWatch(
  http: HttpClient,
  url: string,
  path: string,
  options: WatchOptions,
): Promise<DirectoryWatch> {
  const controller = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, controller.signal])
    : controller.signal;
  const res = await http.send("GET", url, {
    query: { path, recursive: String(options.recursive ?? false) },
    signal,
  });
  const events = ndjson(res.body, { what: WHAT, cut: "agent_unavailable", signal });
  try {
    const first = await events.next();
    const ready = first.done ? undefined : checked(first.value);
    if (ready?.type !== "ready")
      throw new InvalidResponseError("invalid_response", `${WHAT} did not begin with ready`, 200);
    return new DirectoryWatch(ready.path, events, controller);
  } catch (err) {
    controller.abort();
    throw err;
  }
}
