import WebSocket from "ws";
import { z } from "zod";
import {
  PROCESS_LIMITS,
  ProcessInfoSchema,
  ProcessListSchema,
  type ProcessEvent,
} from "@paddock/protocol";
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { ConnectError, keepaliveMs, withKeepalive } from "./connect.js";
import { DaemonClient } from "./daemon-client.js";
import { homeOf, resolvePath, type EnvdCall, type EnvdMethod } from "./envd-call.js";
import { processEvents } from "./event-stream.js";

/*
 * envd's process.Process service (E2B's envd/spec/process/process.proto) in its JSON form, on
 * Paddock's process API. Every process starts in the background, so it outlives the stream that
 * started it (as in envd), and the stream is an attach to its events.
 */

const Size = z.object({ cols: z.number().int(), rows: z.number().int() });
const Selector = z.object({ pid: z.number().int().positive() });
const StartRequest = z.object({
  process: z.object({
    cmd: z.string().min(1),
    args: z.array(z.string()).default([]),
    envs: z.record(z.string(), z.string()).default({}),
    cwd: z.string().optional(),
  }),
  pty: z.object({ size: Size }).optional(),
  tag: z.string().optional(),
  stdin: z.boolean().optional(),
});
const ConnectRequest = z.object({ process: Selector });
const SendInputRequest = z.object({
  process: Selector,
  input: z.union([z.object({ stdin: z.string() }), z.object({ pty: z.string() })]),
});
/** Signals by the enum's name or number (only SIGTERM and SIGKILL exist in the spec). */
const SIGNALS: Record<string, "SIGTERM" | "SIGKILL"> = {
  SIGNAL_SIGTERM: "SIGTERM",
  SIGNAL_SIGKILL: "SIGKILL",
  "15": "SIGTERM",
  "9": "SIGKILL",
};
const SendSignalRequest = z.object({
  process: Selector,
  signal: z.union([z.string(), z.number()]),
});
const UpdateRequest = z.object({ process: Selector, pty: z.object({ size: Size }).optional() });

export function parseMessage<S extends z.ZodType>(
  schema: S,
  message: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(message);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || what}: ${i.message}`);
    throw new ConnectError("invalid_argument", `invalid ${what}: ${issues.join("; ")}`);
  }
  return parsed.data;
}

const processPath = (call: EnvdCall, rest = "") =>
  DaemonClient.sandbox(call.sandboxId, `/processes${rest}`);

/** Go's ProcessState text, which envd puts in `status`. */
function statusText(event: Extract<ProcessEvent, { type: "exit" }>): string {
  if (event.signal)
    return `signal: ${event.signal === "SIGKILL" ? "killed" : event.signal.toLowerCase()}`;
  return `exit status ${event.exitCode ?? -1}`;
}

/**
 * A process's event stream from the daemon, read for as long as the E2B client reads it. If the
 * client goes first, the rest is read and dropped: the daemon then never sees its request end,
 * so the process runs on (as envd's do) and can be attached to again (Connect replays it).
 */
function detachable(res: IncomingMessage): PassThrough {
  const events = new PassThrough();
  res.pipe(events);
  events.once("close", () => {
    res.unpipe(events);
    res.resume();
  });
  return events;
}

/** Paddock's events of one process (`res`) as envd's ProcessEvent messages. */
async function* translate(
  call: EnvdCall,
  res: IncomingMessage,
  pty: boolean,
): AsyncGenerator<unknown> {
  let pid = 0;
  const keepalive = { type: "keepalive" } as const;
  for await (const event of withKeepalive(
    processEvents(detachable(res)),
    keepaliveMs(call.headers),
    keepalive,
  )) {
    switch (event.type) {
      case "start":
        pid = event.pid;
        yield { event: { start: { pid: event.pid } } };
        break;
      case "stdout":
        yield { event: { data: pty ? { pty: event.data } : { stdout: event.data } } };
        break;
      case "stderr":
        yield { event: { data: { stderr: event.data } } };
        break;
      case "exit":
        if (event.timedOut) {
          throw new ConnectError(
            "deadline_exceeded",
            `process ${pid} ran past its timeoutMs and was killed`,
          );
        }
        yield {
          event: {
            end: {
              exitCode: event.exitCode ?? -1,
              exited: event.exitCode !== null,
              status: statusText(event),
            },
          },
        };
        break;
      case "keepalive":
        yield { event: { keepalive: {} } };
        break;
      case "truncated":
        break;
    }
  }
}

async function* start(message: unknown, call: EnvdCall): AsyncGenerator<unknown> {
  const req = parseMessage(StartRequest, message, "StartRequest");
  const timeout = Number(call.headers["connect-timeout-ms"]);
  // In the foreground: its output comes on this very request, none lost before an attach; the
  // request is never cut by the E2B client leaving (see detachable), so it outlives that.
  const res = await call.client.send("POST", processPath(call), {
    json: {
      argv: [req.process.cmd, ...req.process.args],
      env: req.process.envs,
      cwd: resolvePath(req.process.cwd ?? homeOf(call.user), call.user),
      user: call.user,
      stdin: req.stdin === true || req.pty !== undefined,
      background: false,
      // envd ends a process with its call's deadline; Paddock's timeout does that in the agent.
      ...(timeout > 0 ? { timeoutMs: Math.min(timeout, PROCESS_LIMITS.maxTimeoutMs) } : {}),
      ...(req.pty ? { pty: req.pty.size } : {}),
    },
  });
  yield* translate(call, res, req.pty !== undefined);
}

async function* connect(message: unknown, call: EnvdCall): AsyncGenerator<unknown> {
  const { process } = parseMessage(ConnectRequest, message, "ConnectRequest");
  const info = await call.client.json(
    "GET",
    processPath(call, `/${process.pid}`),
    ProcessInfoSchema,
  );
  const res = await call.client.send("GET", processPath(call, `/${process.pid}/events`), {
    signal: call.signal,
  });
  yield* translate(call, res, info.pty !== null);
}

async function list(_message: unknown, call: EnvdCall) {
  const { processes } = await call.client.json("GET", processPath(call), ProcessListSchema);
  return {
    processes: processes
      .filter((p) => p.running)
      .map((p) => ({
        config: { cmd: p.argv[0] ?? "", args: p.argv.slice(1), envs: {} },
        pid: p.pid,
        ...(p.tag ? { tag: p.tag } : {}),
      })),
  };
}

async function sendInput(message: unknown, call: EnvdCall) {
  const { process, input } = parseMessage(SendInputRequest, message, "SendInputRequest");
  const data = Buffer.from("stdin" in input ? input.stdin : input.pty, "base64");
  await call.client.call("POST", processPath(call, `/${process.pid}/stdin`), {
    body: data,
    contentLength: data.length,
    query: { close: "false" },
  });
  return {};
}

async function closeStdin(message: unknown, call: EnvdCall) {
  const { process } = parseMessage(ConnectRequest, message, "CloseStdinRequest");
  await call.client.call("POST", processPath(call, `/${process.pid}/stdin`), {
    body: Buffer.alloc(0),
    contentLength: 0,
    query: { close: "true" },
  });
  return {};
}

async function sendSignal(message: unknown, call: EnvdCall) {
  const req = parseMessage(SendSignalRequest, message, "SendSignalRequest");
  const signal = SIGNALS[String(req.signal)];
  if (!signal)
    throw new ConnectError("invalid_argument", "signal is SIGNAL_SIGTERM or SIGNAL_SIGKILL");
  const info = await call.client.json(
    "GET",
    processPath(call, `/${req.process.pid}`),
    ProcessInfoSchema,
  );
  // envd answers not_found for a process that has ended; the SDK's kill then returns false.
  if (!info.running)
    throw new ConnectError("not_found", `process ${req.process.pid} is not running`);
  await call.client.call("POST", processPath(call, `/${req.process.pid}/kill`), {
    json: { signal },
  });
  return {};
}

/** A terminal's new size: Paddock takes it on the process's WebSocket, so one is opened for it. */
async function update(message: unknown, call: EnvdCall) {
  const req = parseMessage(UpdateRequest, message, "UpdateRequest");
  if (!req.pty) return {};
  await call.client.json("GET", processPath(call, `/${req.process.pid}`), ProcessInfoSchema);
  const url = call.client.url(processPath(call, `/${req.process.pid}/stream`), { output: "false" });
  url.protocol = "ws:";
  await new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { headers: call.client.headers() });
    ws.once("open", () => {
      ws.send(JSON.stringify({ type: "resize", ...req.pty!.size }), (err) => {
        ws.close();
        if (err) reject(err);
        else resolve();
      });
    });
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) =>
      reject(
        new ConnectError(
          "not_found",
          `process ${req.process.pid} has no terminal stream (${res.statusCode})`,
        ),
      ),
    );
  });
  return {};
}

export const processMethods: Record<string, EnvdMethod> = {
  Start: { kind: "stream", handler: start },
  Connect: { kind: "stream", handler: connect },
  List: { kind: "unary", handler: list },
  SendInput: { kind: "unary", handler: sendInput },
  CloseStdin: { kind: "unary", handler: closeStdin },
  SendSignal: { kind: "unary", handler: sendSignal },
  Update: { kind: "unary", handler: update },
};
