import {
  SandboxEventSchema,
  SandboxMetricsSchema,
  type SandboxEvent,
  type SandboxMetrics,
} from "@paddock/protocol";
import { ApiError, sandboxPath, type Api } from "./api.js";

/** How often a page showing numbers asks for them again. */
export const REFRESH_MS = 2000;

/**
 * Runs `tick` now and then every REFRESH_MS, one at a time (a slow answer is never overlapped
 * by the next ask); returns what stops it.
 */
export function every(tick: () => Promise<void>, ms = REFRESH_MS): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    await tick().catch(() => {});
    if (!stopped) timer = setTimeout(run, ms);
  };
  void run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * `fn` one run at a time: a call while it runs asks for one more run once it is done instead of
 * a second one alongside (whose older answer could land last).
 */
export function oneAtATime(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
}

/**
 * A sandbox's metrics, or undefined when it has none to give (not running). A daemon without
 * the metrics route (route_not_found) is remembered, and not asked again.
 */
export class Metrics {
  private missing = false;

  constructor(private readonly api: Api) {}

  get available(): boolean {
    return !this.missing;
  }

  async of(id: string): Promise<SandboxMetrics | undefined> {
    if (this.missing) return undefined;
    try {
      return await this.api.json("GET", sandboxPath(id, "/metrics"), SandboxMetricsSchema);
    } catch (err) {
      if (err instanceof ApiError && err.code === "route_not_found") this.missing = true;
      return undefined;
    }
  }
}

/**
 * Follows `GET /v1/events` (server-sent events, read with fetch: EventSource cannot send the
 * bearer token). Reconnects with Last-Event-ID after a cut; a daemon without the route
 * (route_not_found) is left alone, and pages keep polling. Returns what stops it.
 */
export function followEvents(api: Api, onEvent: (event: SandboxEvent) => void): () => void {
  const stop = new AbortController();
  let lastId: string | undefined;
  const connect = async (): Promise<void> => {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (lastId) headers["last-event-id"] = lastId;
    const response = await api.request("GET", "/v1/events", { headers, signal: stop.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("data:")) data += line.slice(5).trimStart();
          else if (line.startsWith("id:")) lastId = line.slice(3).trim();
        }
        if (!data) continue;
        try {
          const parsed = SandboxEventSchema.safeParse(JSON.parse(data));
          if (parsed.success) onEvent(parsed.data);
        } catch {
          // A malformed event is skipped; the list's own refresh still shows the truth.
        }
      }
    }
  };
  void (async () => {
    while (!stop.signal.aborted) {
      try {
        await connect();
      } catch (err) {
        if (err instanceof ApiError && (err.code === "route_not_found" || err.status === 401))
          return;
      }
      if (!stop.signal.aborted) await new Promise((r) => setTimeout(r, REFRESH_MS));
    }
  })();
  return () => stop.abort();
}
