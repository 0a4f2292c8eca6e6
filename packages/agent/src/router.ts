import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { ERROR_STATUS, type ErrorCode } from "@paddock/protocol";

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

/** Takes over a connection upgraded to one protocol (`head`: bytes read past the headers). */
export type UpgradeHandler = (
  req: IncomingMessage,
  connection: Duplex,
  head: Buffer,
) => Promise<void> | void;

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

/** The status and body an error is answered with. */
export function errorAnswer(err: unknown): { status: number; body: unknown } {
  const code: ErrorCode = err instanceof AgentError ? err.code : "internal";
  const message = err instanceof Error ? err.message : String(err);
  return { status: ERROR_STATUS[code], body: { error: { code, message } } };
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : new Error(String(err)));
    return;
  }
  const { status, body } = errorAnswer(err);
  sendJson(res, status, body);
}

/** Answers an upgrade request that was not switched: a plain HTTP answer, then the close. */
function refuseUpgrade(connection: Duplex, err: unknown): void {
  const { status, body } = errorAnswer(err);
  const data = JSON.stringify(body);
  connection.end(
    `HTTP/1.1 ${status} Upgrade Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(data)}\r\nconnection: close\r\n\r\n${data}`,
  );
}

/**
 * A handler that stopped reading midway (a refused upload, a process that closed its stdin)
 * leaves the rest of the body unread, and Node parses the connection's next request only once
 * it is read: discard it. A body stream already destroyed cannot be read on; then the
 * connection is closed after the answer (effective while the answer has not started).
 */
function discardRest(req: IncomingMessage, res: ServerResponse): void {
  const hasBody =
    req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"]) > 0;
  if (!hasBody || req.readableEnded) return;
  if (req.destroyed) res.shouldKeepAlive = false;
  else req.resume();
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

  private readonly upgrades = new Map<string, UpgradeHandler>();

  /** Connections upgraded to `protocol` (the Upgrade header) go to `handler`. */
  onUpgrade(protocol: string, handler: UpgradeHandler): this {
    this.upgrades.set(protocol, handler);
    return this;
  }

  private load: (() => Promise<unknown>) | undefined;
  private loaded: Promise<unknown> | undefined;

  /** Routes loaded on first need (or when `loadNow` is called); until then, requests wait. */
  lazy(load: () => Promise<unknown>): this {
    this.load = load;
    return this;
  }

  loadNow(): Promise<unknown> | undefined {
    if (!this.loaded && this.load) this.loaded = this.load();
    return this.loaded;
  }

  async handleUpgrade(req: IncomingMessage, connection: Duplex, head: Buffer): Promise<void> {
    // Node leaves an upgraded connection without an error listener; a reset must not crash us.
    connection.on("error", () => {});
    const protocol = req.headers.upgrade ?? "";
    if (!this.upgrades.has(protocol)) await this.loadNow();
    const handler = this.upgrades.get(protocol);
    try {
      if (!handler) throw new AgentError("invalid_request", `no agent upgrade to "${protocol}"`);
      await handler(req, connection, head);
    } catch (err) {
      if (connection.writable) refuseUpgrade(connection, err);
      else connection.destroy();
    }
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://agent");
    const key = `${req.method} ${url.pathname}`;
    if (!this.routes.has(key)) await this.loadNow();
    const handler = this.routes.get(key);
    try {
      if (!handler)
        throw new AgentError("route_not_found", `no agent route ${req.method} ${url.pathname}`);
      await handler(req, res, url);
    } catch (err) {
      discardRest(req, res);
      sendError(res, err);
      return;
    }
    discardRest(req, res);
  }
}
