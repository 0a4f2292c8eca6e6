import http from "node:http";
import { HealthSchema, type Health } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";

export interface AgentResponse {
  status: number;
  body: unknown;
}

/** Speaks HTTP to one sandbox's agent over its Unix socket, reusing connections. */
export class AgentClient {
  /** Kept-alive connections; no cap, since every live exec stream holds one. */
  readonly httpAgent = new http.Agent({ keepAlive: true });

  constructor(readonly socketPath: string) {}

  requestJson(
    method: string,
    path: string,
    timeoutMs = 10_000,
    json?: unknown,
  ): Promise<AgentResponse> {
    const body = json === undefined ? undefined : JSON.stringify(json);
    const headers =
      body === undefined
        ? {}
        : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
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
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            try {
              const text = Buffer.concat(chunks).toString("utf8");
              resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null });
            } catch (err) {
              reject(err);
            }
          });
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

  async health(timeoutMs = 2000): Promise<Health> {
    const res = await this.requestJson("GET", "/health", timeoutMs);
    if (res.status !== 200) throw new Error(`agent health answered ${res.status}`);
    return HealthSchema.parse(res.body);
  }

  close(): void {
    this.httpAgent.destroy();
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
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      return await client.health(Math.max(100, deadline - Date.now()));
    } catch (err) {
      lastError = errorMessage(err);
    }
    if (attempt % 20 === 19 && !(await alive())) {
      throw new PaddockError("agent_unavailable", "the sandbox exited before its agent started");
    }
    await new Promise((r) => setTimeout(r, Math.min(5 + attempt, 25)));
  }
  throw new PaddockError(
    "agent_unavailable",
    `the sandbox's agent did not answer within ${timeoutMs} ms (${lastError})`,
  );
}
