import http from "node:http";
import type { AddressInfo } from "node:net";

export const SANDBOX_ID = "sb_0123456789abcdef";

export const SANDBOX_INFO = {
  id: SANDBOX_ID,
  image: "debian",
  runtime: "runc",
  state: "running",
  cpu: 1,
  memoryMiB: 512,
  pidsLimit: 1024,
  diskMiB: 10240,
  oomKills: 0,
  timeoutSeconds: 600,
  labels: {},
  createdAt: "2025-01-01T00:00:00.000Z",
  expiresAt: "2025-01-01T00:10:00.000Z",
  terminatedAt: null,
  reason: null,
  agentVersion: "0.1.0",
  docker: false,
};

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface FakeDaemon {
  url: string;
  /** "METHOD /path" of every request, query left out. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A daemon on port 0 that answers each "METHOD /path" from `routes`, and GET of the sandbox with
 * its info, so a test can connect and then misbehave on the one call it is about.
 */
export async function fakeDaemon(routes: Record<string, Handler>): Promise<FakeDaemon> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const route = `${req.method} ${new URL(req.url ?? "/", "http://x").pathname}`;
    requests.push(route);
    const handler = routes[route];
    if (handler) return handler(req, res);
    if (route === `GET /v1/sandboxes/${SANDBOX_ID}`) return sendJson(res, 200, SANDBOX_INFO);
    sendJson(res, 404, { error: { code: "route_not_found", message: `no route ${route}` } });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/**
 * Answers 200, writes `chunks` and then resets the connection, as a daemon that dies (or a
 * sandbox that ends) mid-answer does.
 */
export function cutAfter(chunks: (string | Uint8Array)[], headers: http.OutgoingHttpHeaders = {}) {
  return ((req, res) => {
    // The request body is read first: a reset while the client still sends is another failure.
    req.resume();
    req.once("end", () => {
      res.writeHead(200, headers);
      for (const chunk of chunks) res.write(chunk);
      // Once the bytes are out, the socket is destroyed: the client sees ECONNRESET / aborted.
      setTimeout(() => res.socket?.destroy(), 50);
    });
  }) satisfies Handler;
}

/** Answers 200 with `chunks` and ends normally. */
export function answer(chunks: (string | Uint8Array)[], headers: http.OutgoingHttpHeaders = {}) {
  return ((req, res) => {
    req.resume();
    req.once("end", () => {
      res.writeHead(200, headers);
      for (const chunk of chunks) res.write(chunk);
      res.end();
    });
  }) satisfies Handler;
}

export const line = (value: unknown) => `${JSON.stringify(value)}\n`;
