import { closeSync, constants, fstatSync, openSync } from "node:fs";
import http from "node:http";
import { ErrorBodySchema, HealthSchema, type Health } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";

export interface AgentResponse {
  status: number;
  body: unknown;
}

/** Linux's O_PATH, which Node does not name: a handle on a file that opens nothing. */
const O_PATH = 0o10000000;

/** Speaks HTTP to one sandbox's agent over its Unix socket, reusing connections. */
export class AgentClient {
  /** Kept-alive connections; no cap, since every live exec stream holds one. */
  readonly httpAgent = new http.Agent({ keepAlive: true });
  private pinned: number | undefined;

  constructor(private readonly path: string) {}

  /**
   * The agent's socket, as a path nothing in the sandbox can redirect. The socket's directory
   * is writable from inside (the agent makes the socket there), so its name could be swapped
   * for a symlink to another sandbox's socket. The daemon holds the socket file it first found
   * (when the agent first answers, before any user code runs), refusing a symlink, and
   * connects through /proc/self/fd. Throws until the agent has made its socket.
   */
  get socketPath(): string {
    if (this.pinned === undefined) {
      const fd = openSync(this.path, O_PATH | constants.O_NOFOLLOW);
      if (!fstatSync(fd).isSocket()) {
        closeSync(fd);
        throw new PaddockError("agent_unavailable", "the sandbox's agent socket is not a socket");
      }
      this.pinned = fd;
    }
    return `/proc/self/fd/${this.pinned}`;
  }

  /**
   * One request to the agent, its answer read whole (at most `limit` bytes): for the daemon's
   * own small calls (a timeout of 0 waits as long as it takes). Users' streams go through
   * proxyToAgent instead.
   */
  private call(
    method: string,
    path: string,
    options: {
      body?: string | Buffer;
      contentType?: string;
      timeoutMs?: number;
      limit?: number;
    } = {},
  ): Promise<{ status: number; body: Buffer }> {
    const { body, contentType, timeoutMs = 10_000, limit = 1024 * 1024 } = options;
    const headers =
      body === undefined
        ? {}
        : { "content-type": contentType, "content-length": Buffer.byteLength(body) };
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method,
          headers,
          agent: this.httpAgent,
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > limit) {
              res.destroy();
              reject(
                new PaddockError(
                  "payload_too_large",
                  `the agent's answer to ${path} is over ${limit} bytes`,
                ),
              );
            } else chunks.push(c);
          });
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`agent did not answer within ${timeoutMs} ms`)),
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  async requestJson(
    method: string,
    path: string,
    timeoutMs = 10_000,
    json?: unknown,
  ): Promise<AgentResponse> {
    const body = json === undefined ? undefined : JSON.stringify(json);
    const res = await this.call(method, path, { body, contentType: "application/json", timeoutMs });
    const text = res.body.toString("utf8");
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** Reads a small file in the sandbox (at most `limit` bytes) through the agent. */
  async readFile(path: string, limit = 1024 * 1024): Promise<Buffer> {
    const res = await this.call("GET", `/files/read?${new URLSearchParams({ path })}`, {
      limit,
      timeoutMs: 0,
    });
    if (res.status !== 200) throw agentError(res.status, res.body);
    return res.body;
  }

  /** Writes a small file in the sandbox through the agent (atomically, parents made). */
  async writeFile(path: string, data: string | Buffer): Promise<void> {
    const res = await this.call("PUT", `/files/write?${new URLSearchParams({ path })}`, {
      body: data,
      contentType: "application/octet-stream",
      timeoutMs: 0,
    });
    if (res.status !== 200) throw agentError(res.status, res.body);
  }

  /** Has the agent kill the sandbox's largest process (gVisor's OOM killer); what it killed. */
  async oomKill(): Promise<{ pid: number; rssBytes: number; command: string } | null> {
    const res = await this.requestJson("POST", "/memory/oom-kill", 5000);
    if (res.status !== 200) throw new Error(`the agent's OOM kill answered ${res.status}`);
    return (res.body as { killed: { pid: number; rssBytes: number; command: string } | null })
      .killed;
  }

  async health(timeoutMs = 2000): Promise<Health> {
    const res = await this.requestJson("GET", "/health", timeoutMs);
    if (res.status !== 200) throw new Error(`agent health answered ${res.status}`);
    return HealthSchema.parse(res.body);
  }

  close(): void {
    this.httpAgent.destroy();
    if (this.pinned !== undefined) closeSync(this.pinned);
    this.pinned = undefined;
  }
}

/**
 * Polls the agent until it answers. `alive` is asked between tries so a container that died
 * on start fails fast instead of waiting out the deadline.
 */
export async function waitForAgent(
  client: AgentClient,
  timeoutMs: number,
  alive: () => Promise<boolean>,
): Promise<Health> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "no answer";
  let backoff = 5;
  let nextAliveCheck = Date.now() + 300;
  while (Date.now() < deadline) {
    let noSocketYet = false;
    try {
      return await client.health(Math.max(100, deadline - Date.now()));
    } catch (err) {
      lastError = errorMessage(err);
      noSocketYet = (err as NodeJS.ErrnoException).code === "ENOENT";
    }
    if (Date.now() >= nextAliveCheck) {
      if (!(await alive()))
        throw new PaddockError("agent_unavailable", "the sandbox exited before its agent started");
      nextAliveCheck = Date.now() + 300;
    }
    // Until the agent has made its socket, looking again is one cheap stat: look often, since
    // every create waits for this. After that, back off.
    const delay = noSocketYet ? 2 : backoff;
    if (!noSocketYet) backoff = Math.min(backoff + 1, 25);
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new PaddockError(
    "agent_unavailable",
    `the sandbox's agent did not answer within ${timeoutMs} ms (${lastError})`,
  );
}

/** An agent's error answer as a PaddockError with the agent's own code. */
function agentError(status: number, body: Buffer): PaddockError {
  try {
    const parsed = ErrorBodySchema.parse(JSON.parse(body.toString("utf8")));
    return new PaddockError(parsed.error.code, parsed.error.message);
  } catch {
    return new PaddockError("internal", `the agent answered ${status}`);
  }
}
