import { Writable } from "node:stream";
import websocket from "@fastify/websocket";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { WebSocket, RawData } from "ws";
import type { z } from "zod";
import {
  ErrorBodySchema,
  ProcessInputSchema,
  ProcessRefParamsSchema,
  ProcessStreamQuerySchema,
  type ProcessEvent,
  type StreamErrorMessage,
} from "@paddock/protocol";
import { EventLines } from "../../agent/event-lines.js";
import type { Upgraded } from "../../agent/upgrade.js";
import { PaddockError } from "../../errors.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";
import { toErrorBody } from "../error-handler.js";

/** Bytes queued to a slow WebSocket client before the agent's stream is paused. */
const CLIENT_HIGH_WATER_BYTES = 1024 * 1024;
/** The largest message a client may send (the SDK sends stdin in 64 KiB pieces). */
const MAX_CLIENT_MESSAGE_BYTES = 1024 * 1024;

/** How long input already taken from a client that left may take to reach the agent. */
const INPUT_FLUSH_MS = 5000;
/** WebSocket close codes (RFC 6455). */
const CLOSE = { normal: 1000, goingAway: 1001, policy: 1008, failed: 1011 } as const;
/** How long a client may take to answer the close at a shutdown. */
const SHUTDOWN_CLOSE_MS = 1000;

type Params = z.output<typeof ProcessRefParamsSchema>;
type Query = z.output<typeof ProcessStreamQuerySchema>;

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

/**
 * The public process WebSocket (`GET /v1/sandboxes/:id/processes/:ref/stream`), a bridge to the
 * agent's PROCESS_STREAM_UPGRADE connection; the messages are documented above the protocol's
 * StreamErrorMessageSchema. Auth and ownership are the API's hooks, as on every route; the
 * agent's connection is opened before the switch, so a missing process or a sandbox that is
 * not running is an ordinary HTTP refusal. Afterwards a failure is an `error` message and a
 * 1011 close. The socket also ends when its sandbox ends, and (like every request of a key)
 * when its key is revoked.
 */
export function processStreamRoutes(
  service: SandboxService,
  hostDirs?: readonly string[],
): FastifyPluginAsync {
  return async (plain) => {
    await plain.register(websocket, {
      options: { maxPayload: MAX_CLIENT_MESSAGE_BYTES },
      // A shutdown says so (1001) and does not wait on clients slow to answer the close.
      preClose(done) {
        for (const client of this.websocketServer.clients) {
          client.close(CLOSE.goingAway);
          setTimeout(() => client.terminate(), SHUTDOWN_CLOSE_MS).unref();
        }
        done();
      },
    });
    const opened = new WeakMap<FastifyRequest, Upgraded>();
    const bySandbox = new Map<string, Set<(err: PaddockError) => void>>();
    service.onEnd(async (id) => {
      const ended = new PaddockError("sandbox_not_running", `sandbox ${id} ended`);
      for (const end of bySandbox.get(id) ?? []) end(ended);
    });

    plain.route({
      method: "GET",
      url: "/v1/sandboxes/:id/processes/:ref/stream",
      schema: {
        summary:
          "WebSocket to a process (by pid or tag): binary messages are its stdout (a terminal's whole output) and your stdin; text messages are its other events as JSON (start, stderr, truncated, exit) and your {type:resize,cols,rows} or {type:closeStdin}. output=false sends only start and exit. Closes 1000 after the exit, 1011 after an {type:error,code,message}.",
        params: ProcessRefParamsSchema,
        querystring: ProcessStreamQuerySchema,
        response: errors,
      },
      preHandler: async (request) => {
        if (!request.ws) return;
        // Checked by the schemas above before any hook of the route runs.
        const { id, ref } = request.params as Params;
        const { output } = request.query as Query;
        const agent = await service.ready(id);
        // The client leaving while the agent is asked: the agent's connection is not kept.
        const gone = new AbortController();
        const socket = request.raw.socket;
        const onGone = () => gone.abort();
        socket.once("close", onGone);
        let upgraded: Upgraded;
        try {
          upgraded = await agent.processStream(ref, output === "true", gone.signal);
        } finally {
          socket.off("close", onGone);
        }
        if (socket.destroyed) upgraded.socket.destroy();
        // Never switched (a bad handshake): the agent's connection goes with the client's.
        else socket.once("close", () => opened.has(request) && upgraded.socket.destroy());
        opened.set(request, upgraded);
      },
      wsHandler: (ws, request) => {
        const upgraded = opened.get(request);
        opened.delete(request);
        if (!upgraded) return ws.close(CLOSE.failed);
        const viewer = { admin: request.principal.admin, hostDirs };
        const { id } = request.params as Params;
        let ends = bySandbox.get(id);
        if (!ends) bySandbox.set(id, (ends = new Set()));
        const set = ends;
        const end = bridge(
          ws,
          upgraded,
          (err) => toErrorBody(err, viewer).body.error,
          () => {
            set.delete(end);
            if (set.size === 0 && bySandbox.get(id) === set) bySandbox.delete(id);
          },
        );
        set.add(end);
      },
      handler: async () => {
        throw new PaddockError(
          "invalid_request",
          "this route is a WebSocket: connect with `Upgrade: websocket` (the SDK's sandbox.pty and live exec stdin do)",
        );
      },
    });
  };
}

/**
 * Joins a client's WebSocket and the agent's process connection until either ends. Returns a
 * function that ends both with an error (the sandbox ended). `describe` turns a failure into
 * what the client may read; `done` runs once, when both are closed.
 */
function bridge(
  ws: WebSocket,
  upgraded: Upgraded,
  describe: (err: unknown) => { code: string; message: string },
  done: () => void,
): (err: PaddockError) => void {
  const agent = upgraded.socket;
  agent.setNoDelay(true);
  let finished = false;
  const finish = (code: number, err?: unknown) => {
    if (finished) return;
    finished = true;
    if (err !== undefined && ws.readyState === ws.OPEN) {
      const message: StreamErrorMessage = { type: "error", ...describe(err) };
      ws.send(JSON.stringify(message));
    }
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code);
    // Input the client sent just before leaving still reaches the agent, within a bound.
    if (agent.writableLength > 0 && !agent.destroyed) {
      const timer = setTimeout(() => agent.destroy(), INPUT_FLUSH_MS);
      agent.end(() => {
        clearTimeout(timer);
        agent.destroy();
      });
    } else agent.destroy();
    done();
  };

  // Agent to client. Each event is sent as it is checked; the line itself then goes into a sink
  // that holds it while the client is behind, so backpressure reaches the agent's stream.
  let exited = false;
  const lines = new EventLines((event: ProcessEvent) => {
    if (event.type === "stdout") ws.send(Buffer.from(event.data, "base64"), onSent);
    else ws.send(JSON.stringify(event), onSent);
    if (event.type === "exit") exited = true;
  });
  let waiting: (() => void) | undefined;
  const onSent = () => {
    if (waiting && ws.bufferedAmount <= CLIENT_HIGH_WATER_BYTES) {
      const go = waiting;
      waiting = undefined;
      go();
    }
  };
  const sink = new Writable({
    write(_line, _enc, next) {
      if (ws.bufferedAmount <= CLIENT_HIGH_WATER_BYTES) return next();
      waiting = next;
    },
  });
  lines.pipe(sink);
  lines.on("end", () => finish(CLOSE.normal));
  lines.on("error", (err) => finish(CLOSE.failed, err));
  agent.on("error", () => {});
  agent.once("close", () => {
    if (exited) return;
    finish(
      CLOSE.failed,
      new PaddockError("agent_unavailable", "the process stream was cut (did the sandbox end?)"),
    );
  });
  if (upgraded.head.length > 0) lines.write(upgraded.head);
  agent.pipe(lines);

  // Client to agent: binary is stdin, text a ProcessInput other than stdin.
  ws.on("message", (data: RawData, isBinary: boolean) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    let line: string;
    if (isBinary) {
      line = JSON.stringify({ type: "stdin", data: bytes.toString("base64") });
    } else {
      const input = parseInput(bytes.toString("utf8"));
      if (!input.ok) {
        return finish(CLOSE.policy, new PaddockError("invalid_request", input.message));
      }
      line = JSON.stringify(input.value);
    }
    if (!agent.write(`${line}\n`)) {
      ws.pause();
      agent.once("drain", () => ws.resume());
    }
  });
  ws.on("error", () => {});
  ws.once("close", () => finish(CLOSE.normal));
  return (err) => finish(CLOSE.failed, err);
}

type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

/** A client's text message: one ProcessInput other than stdin (which goes as binary). */
function parseInput(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {
      ok: false,
      message: "a text message must be JSON: {type:resize,cols,rows} or {type:closeStdin}",
    };
  }
  const parsed = ProcessInputSchema.safeParse(value);
  if (!parsed.success || parsed.data.type === "stdin") {
    const issue = parsed.success
      ? "stdin goes in binary messages"
      : parsed.error.issues.map((i) => `${i.path.join(".") || "message"}: ${i.message}`).join("; ");
    return {
      ok: false,
      message: `invalid message (${issue}); send {type:resize,cols,rows} or {type:closeStdin} as text, stdin as binary`,
    };
  }
  return { ok: true, value: parsed.data };
}
