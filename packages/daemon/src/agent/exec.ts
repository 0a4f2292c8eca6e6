import http from "node:http";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ProcessEventSchema, type ExecRequest, type ProcessExit } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import type { AgentClient } from "./client.js";

export interface Collected extends ProcessExit {
  stdout: string;
  stderr: string;
}

/** Keeps the last `limit` characters of a growing text. */
class Tail {
  text = "";
  constructor(private readonly limit: number) {}
  push(s: string): void {
    this.text += s;
    if (this.text.length > 2 * this.limit) this.text = this.text.slice(-this.limit);
  }
  get value(): string {
    return this.text.slice(-this.limit);
  }
}

/**
 * Runs a program through a sandbox's agent for the daemon's own needs (starting dockerd, running
 * docker compose) and returns its exit and the tail of its output. Same agent, same code path as
 * a user's exec.
 */
export function execCollect(
  client: AgentClient,
  request: ExecRequest,
  options: { stdin?: Buffer | Readable; outputLimit?: number } = {},
): Promise<Collected> {
  const limit = options.outputLimit ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ ...request, stdin: options.stdin !== undefined });
    const req = http.request(
      {
        socketPath: client.socketPath,
        agent: client.httpAgent,
        method: "POST",
        path: "/processes",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          let text = "";
          res.setEncoding("utf8").on("data", (d: string) => (text += d));
          res.on("end", () => {
            const parsed = (() => {
              try {
                return JSON.parse(text) as { error?: { code?: string; message?: string } };
              } catch {
                return {};
              }
            })();
            reject(
              new PaddockError(
                "runtime_error",
                parsed.error?.message ?? `the agent answered ${res.statusCode}`,
              ),
            );
          });
          return;
        }
        const stdout = new Tail(limit);
        const stderr = new Tail(limit);
        let pid: number | undefined;
        const lines = createInterface({ input: res });
        lines.on("line", (line) => {
          const event = ProcessEventSchema.parse(JSON.parse(line));
          if (event.type === "start") {
            pid = event.pid;
            if (options.stdin) void writeStdin(client, pid, options.stdin).catch(reject);
          } else if (event.type === "stdout")
            stdout.push(Buffer.from(event.data, "base64").toString("utf8"));
          else if (event.type === "stderr")
            stderr.push(Buffer.from(event.data, "base64").toString("utf8"));
          else if (event.type === "exit") {
            resolve({
              exitCode: event.exitCode,
              signal: event.signal,
              timedOut: event.timedOut,
              stdout: stdout.value,
              stderr: stderr.value,
            });
          }
        });
        res.on("error", reject);
        res.on("end", () =>
          reject(
            new PaddockError(
              "agent_unavailable",
              "the sandbox's agent went away while a command ran",
            ),
          ),
        );
      },
    );
    req.on("error", (err) =>
      reject(
        new PaddockError(
          "agent_unavailable",
          `the sandbox's agent is not answering: ${err.message}`,
        ),
      ),
    );
    req.end(body);
  });
}

function writeStdin(client: AgentClient, pid: number, data: Buffer | Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: client.socketPath,
        agent: client.httpAgent,
        method: "POST",
        path: `/processes/stdin?ref=${pid}&close=true`,
        headers: {
          "content-type": "application/octet-stream",
          ...(Buffer.isBuffer(data) ? { "content-length": data.length } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on("end", resolve);
      },
    );
    req.on("error", reject);
    if (Buffer.isBuffer(data)) req.end(data);
    else pipeline(data, req).catch(reject);
  });
}

/** Starts a background process through the agent; resolves once it runs. */
export async function startBackground(
  client: AgentClient,
  request: Omit<ExecRequest, "background">,
): Promise<void> {
  const res = await client.requestJson("POST", "/processes", 10_000, {
    ...request,
    background: true,
  });
  if (res.status !== 201) {
    const message = (res.body as { error?: { message?: string } } | null)?.error?.message;
    throw new PaddockError(
      "runtime_error",
      `could not start ${request.argv[0]}: ${message ?? `agent answered ${res.status}`}`,
    );
  }
}
