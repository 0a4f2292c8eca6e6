import type { IncomingMessage, ServerResponse } from "node:http";
import { ERROR_STATUS, type ErrorCode } from "@paddock/protocol";

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

/** An error the agent reports with a stable code; anything else becomes `internal`. */
export class AgentError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(data),
  });
  res.end(data);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const code: ErrorCode = err instanceof AgentError ? err.code : "internal";
  const message = err instanceof Error ? err.message : String(err);
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : new Error(message));
    return;
  }
  sendJson(res, ERROR_STATUS[code], { error: { code, message } });
}

/**
 * Exact-match routing on "METHOD /path". The agent has a handful of fixed routes and starts on
 * every sandbox create, where a framework's load time (tens of ms under gVisor) is paid each time.
 */
export class Router {
  private readonly routes = new Map<string, Handler>();

  on(method: string, path: string, handler: Handler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  private pending: Promise<unknown> | undefined;

  /** Routes still being loaded: requests for an unknown route wait for them first. */
  loading(ready: Promise<unknown>): this {
    this.pending = ready;
    return this;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://agent");
    const key = `${req.method} ${url.pathname}`;
    if (!this.routes.has(key) && this.pending) await this.pending;
    const handler = this.routes.get(key);
    try {
      if (!handler)
        throw new AgentError("route_not_found", `no agent route ${req.method} ${url.pathname}`);
      await handler(req, res, url);
    } catch (err) {
      sendError(res, err);
    }
  }
}
