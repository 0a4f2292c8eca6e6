import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "../logger.js";
import { SandboxSchema } from "@paddock/protocol";
import { ConnectError, serveStream, serveUnary, CONNECT_STATUS } from "./connect.js";
import { DaemonClient, PaddockApiError } from "./daemon-client.js";
import { userOf, type EnvdMethod } from "./envd-call.js";
import { RestError, toConnectError, toRestError } from "./errors.js";
import { filesRoute } from "./files-routes.js";
import { filesystemMethods } from "./filesystem-service.js";
import { processMethods } from "./process-service.js";
import { routeRest } from "./rest.js";

/**
 * The prefix everything is served under: the control plane (E2B_API_URL = http://HOST:PORT/e2b)
 * and every sandbox's envd (E2B_SANDBOX_URL = http://HOST:PORT/e2b/envd).
 */
export const E2B_PREFIX = "/e2b";
const ENVD = `${E2B_PREFIX}/envd`;
const MAX_REST_BODY = 1024 * 1024;

/** A client of Paddock's API acting with one key. */
type ClientFor = (key: string) => DaemonClient;

const SERVICES: Record<string, Record<string, EnvdMethod>> = {
  "process.Process": processMethods,
  "filesystem.Filesystem": filesystemMethods,
};

export interface E2bServerOptions {
  host: string;
  port: number;
  /** Paddock's own API, which every call goes through as its caller. */
  daemonUrl: string;
  log: Logger;
}

export interface RunningE2bServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * E2B's API on its own port, for the `e2b` npm SDK unchanged. It holds no state and no second
 * copy of any rule: each request calls Paddock's API with the caller's key (REST: X-API-Key;
 * envd: X-Access-Token, which create and connect hand out as that same key), so a key sees and
 * does exactly what it may in Paddock's own API.
 */
export async function startE2bServer(options: E2bServerOptions): Promise<RunningE2bServer> {
  const pool = DaemonClient.pool();
  const server: Server = createServer((req, res) => {
    handle(req, res, (key) => new DaemonClient(options.daemonUrl, key, pool)).catch(
      (err: unknown) => {
        options.log.warn({ err: String(err) }, "e2b request failed");
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}${E2B_PREFIX}`;
  options.log.info({ url }, "e2b api listening");
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        pool.destroy();
      }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  clientFor: ClientFor,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://e2b");
  if (url.pathname === ENVD || url.pathname.startsWith(`${ENVD}/`)) {
    return envd(req, res, url, clientFor);
  }
  if (url.pathname.startsWith(`${E2B_PREFIX}/`)) return rest(req, res, url, clientFor);
  sendJson(res, 404, { code: 404, message: `not found; E2B's API is under ${E2B_PREFIX}` });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  if (status === 204 || body === undefined) {
    res.writeHead(status, headers);
    return void res.end();
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REST_BODY)
      throw new RestError(413, `a request body is at most ${MAX_REST_BODY} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new RestError(400, "the request body is not JSON");
  }
}

async function rest(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  clientFor: ClientFor,
): Promise<void> {
  try {
    const key = header(req, "x-api-key");
    if (!key) throw new RestError(401, "missing X-API-Key: set E2B_API_KEY to a Paddock API key");
    const segments = url.pathname
      .slice(E2B_PREFIX.length + 1)
      .split("/")
      .filter(Boolean)
      .map(decodeURIComponent);
    const answer = await routeRest({
      method: req.method ?? "GET",
      segments,
      query: url.searchParams,
      body: await readJson(req),
      client: clientFor(key),
      key,
    });
    sendJson(res, answer.status, answer.body, answer.headers);
  } catch (err) {
    const { status, body } = toRestError(err);
    sendJson(res, status, body);
  }
}

async function envd(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  clientFor: ClientFor,
): Promise<void> {
  const path = url.pathname.slice(ENVD.length);
  const key = header(req, "x-access-token");
  const sandboxId = header(req, "e2b-sandbox-id");
  const rpc = /^\/([A-Za-z.]+)\/([A-Za-z]+)$/.exec(path);
  const method = rpc ? SERVICES[rpc[1]!]?.[rpc[2]!] : undefined;
  const refuse = (code: keyof typeof CONNECT_STATUS, message: string) => {
    const err = new ConnectError(code, message);
    // A method not served is answered in the framing the client asked for.
    const streaming = String(req.headers["content-type"] ?? "").startsWith("application/connect+");
    if (method?.kind === "stream" || (!method && streaming)) {
      return serveStream(req, res, () => failing(err));
    }
    if (rpc) return serveUnary(req, res, async () => Promise.reject(err));
    sendJson(res, CONNECT_STATUS[code], { code: CONNECT_STATUS[code], message });
  };
  if (!key)
    return refuse(
      "unauthenticated",
      "missing X-Access-Token: connect with Sandbox.create or Sandbox.connect",
    );
  if (!sandboxId)
    return refuse(
      "invalid_argument",
      "missing E2b-Sandbox-Id: set E2B_SANDBOX_URL as the README says",
    );
  const client = clientFor(key);
  const user = userOf(header(req, "authorization"));
  if (path === "/health") return health(res, client, sandboxId);
  if (path === "/files") return filesRoute(req, res, url, { client, sandboxId, user });
  if (!rpc) return sendJson(res, 404, { code: 404, message: `no envd route ${path}` });
  if (!method)
    return refuse("unimplemented", `${rpc[1]}/${rpc[2]} is not supported by Paddock's E2B API`);
  if (method.kind === "unary") {
    return serveUnary(req, res, (message, ctx) =>
      method.handler(message, { ...ctx, client, sandboxId, user }).catch((err: unknown) => {
        throw toConnectError(err);
      }),
    );
  }
  return serveStream(req, res, (message, ctx) =>
    mapErrors(method.handler(message, { ...ctx, client, sandboxId, user })),
  );
}

// eslint-disable-next-line require-yield
async function* failing(err: unknown): AsyncIterable<unknown> {
  throw err;
}

async function* mapErrors(source: AsyncIterable<unknown>): AsyncIterable<unknown> {
  try {
    yield* source;
  } catch (err) {
    throw toConnectError(err);
  }
}

/** envd's health: 204 while the sandbox runs, 502 (the SDK's "not running") otherwise. */
async function health(res: ServerResponse, client: DaemonClient, id: string): Promise<void> {
  try {
    const { state } = await client.json("GET", DaemonClient.sandbox(id), SandboxSchema);
    if (state === "running") return sendJson(res, 204, undefined);
    sendJson(res, 502, { code: 502, message: `sandbox ${id} is ${state}` });
  } catch (err) {
    if (err instanceof PaddockApiError && err.status === 404) {
      return sendJson(res, 502, { code: 502, message: `sandbox ${id} is not running` });
    }
    const { status, body } = toRestError(err);
    sendJson(res, status, body);
  }
}
