import { closeSync, constants, fstatSync, openSync } from "node:fs";
import http from "node:http";
import { Readable } from "node:stream";
import { z } from "zod";
import {
  AGENT_ANSWER_LIMITS,
  AGENT_ENV_ROUTE,
  AgentEnvAnswerSchema,
  AGENT_TIMEOUTS,
  DNS_UPGRADE,
  FileEntrySchema,
  HealthSchema,
  OomKillAnswerSchema,
  PROCESS_STREAM_UPGRADE,
  SIZE_HINT_HEADER,
  TUNNEL_UPGRADE,
  type AgentTimeouts,
  type FileEntry,
  type Health,
  type OomKillAnswer,
  type ProcessEvent,
} from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import {
  checkStatus,
  classifyTransport,
  errnoOf,
  errorFromAnswer,
  malformed,
  parseAnswer,
  readBounded,
  timedOut,
} from "./answers.js";
import { EventLines, PROCESS_EVENTS, type EventProtocol } from "./event-lines.js";
import { dropRest, sendBody } from "./request-body.js";
import { upgradeAgent, type Upgraded } from "./upgrade.js";

const ReleaseAnswerSchema = z.object({ released: z.literal(true) });

/** Linux's O_PATH, which Node does not name: a handle on a file that opens nothing. */
const O_PATH = 0o10000000;

export interface AgentRequest {
  method: string;
  /** The agent's path, with its query; built by the daemon, never taken from a client. */
  path: string;
  body?: Buffer | string | Readable;
  contentType?: string;
  /** The caller went away: the agent's request is cut (a foreground process dies with it). */
  signal?: AbortSignal;
  /** The answer's deadline after the body is sent (see AGENT_TIMEOUTS.handshakeMs). */
  timeoutMs?: number;
}

/** What a request may be answered with on success; anything else is an agent_error. */
export interface Expected<T> {
  /** A JSON answer with this status, checked against the schema. */
  json?: { status: number; schema: z.ZodType<T> };
  /** An NDJSON event stream of this protocol (status 200), checked event by event. */
  events?: EventProtocol;
  /** Bytes (a download), passed on as they come. */
  bytes?: boolean;
}

/** The agent's answer, ready to send on: no reply object or socket of the API's in it. */
export type AgentAnswer<T> =
  | { kind: "json"; status: number; body: T }
  | { kind: "stream"; status: number; headers: Record<string, string>; body: Readable };

/**
 * The daemon's one way to speak to a sandbox's agent, over its Unix socket: every request,
 * streamed answer, event stream and upgrade (bulk uploads, port tunnels) goes through here, and
 * every answer is checked before anything is passed on. The agent is an untrusted peer (user
 * code runs beside it): an answer that is not its protocol is an `agent_error`, no read is
 * unbounded (AGENT_ANSWER_LIMITS) and no wait is endless (AGENT_TIMEOUTS).
 */
export class AgentClient {
  /** Kept-alive connections; no cap, since every live exec stream holds one. */
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private pinned: number | undefined;
  readonly timeouts: AgentTimeouts;

  constructor(
    private readonly path: string,
    options: { timeouts?: Partial<AgentTimeouts> } = {},
  ) {
    this.timeouts = { ...AGENT_TIMEOUTS, ...options.timeouts };
  }

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
   * Sends one request and waits for its answer's headers, at most `timeoutMs` after the body
   * is sent. `deadline.clear()` ends the wait once the caller has what it needs of the answer;
   * until then the deadline also cuts the answer's body (a JSON body must arrive whole).
   */
  private async exchange(
    req: AgentRequest,
  ): Promise<{ res: http.IncomingMessage; deadline: { clear(): void } }> {
    const timeoutMs = req.timeoutMs ?? this.timeouts.handshakeMs;
    let socketPath: string;
    try {
      socketPath = this.socketPath;
    } catch (err) {
      throw classifyTransport(err);
    }
    const headers: http.OutgoingHttpHeaders = {};
    if (req.contentType) headers["content-type"] = req.contentType;
    if (typeof req.body === "string" || Buffer.isBuffer(req.body))
      headers["content-length"] = Buffer.byteLength(req.body);
    const request = http.request({
      socketPath,
      agent: this.httpAgent,
      method: req.method,
      path: req.path,
      headers,
    });
    let timer: NodeJS.Timeout | undefined;
    let res: http.IncomingMessage | undefined;
    const clear = () => {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    };
    const cut = (err: Error) => {
      clear();
      res?.destroy(err);
      request.destroy(err);
    };
    const onAbort = () => cut(new PaddockError("invalid_request", "the client went away"));
    if (req.signal?.aborted) onAbort();
    req.signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs > 0) {
      request.once("finish", () => {
        timer = setTimeout(() => cut(timedOut("an answer", timeoutMs)), timeoutMs);
      });
    }
    const answered = new Promise<http.IncomingMessage>((resolve, reject) => {
      request.once("response", (r) => {
        res = r;
        // An answer before the whole body (a refusal): the rest is read and dropped, so the
        // client can finish sending; the agent's connection cannot be reused.
        if (req.body instanceof Readable && dropRest(req.body, request)) {
          r.once("close", () => request.destroy());
        }
        resolve(r);
      });
      request.once("error", (err) => {
        clear();
        reject(classifyTransport(err));
      });
    });
    if (req.body instanceof Readable) sendBody(req.body, request);
    else request.end(req.body);
    return { res: await answered, deadline: { clear } };
  }

  /**
   * One request whose successful answer is one of `expected`; an error answer becomes the
   * agent's error (its own code), anything else an agent_error. A stream is handed back once
   * its headers (and, for events, its first event) have come: nothing is buffered past that.
   */
  async request<T>(req: AgentRequest, expected: Expected<T>): Promise<AgentAnswer<T>> {
    const { res, deadline } = await this.exchange(req);
    try {
      const status = checkStatus(res);
      const type = String(res.headers["content-type"] ?? "");
      if (status >= 300) {
        throw errorFromAnswer(status, await readBounded(res, AGENT_ANSWER_LIMITS.errorBytes));
      }
      if (expected.json && status === expected.json.status && type.startsWith("application/json")) {
        const body = await readBounded(res, AGENT_ANSWER_LIMITS.jsonBytes);
        return { kind: "json", status, body: parseAnswer(body, expected.json.schema, "an answer") };
      }
      if (expected.events && status === 200 && type.startsWith("application/x-ndjson")) {
        return {
          kind: "stream",
          status,
          headers: { "content-type": type },
          body: await firstEvent(res, expected.events),
        };
      }
      if (expected.bytes && status === 200) {
        return { kind: "stream", status, headers: streamHeaders(res), body: res };
      }
      throw malformed(`${status} (${type || "no content-type"}), which this request never gets`);
    } catch (err) {
      res.destroy();
      throw err;
    } finally {
      deadline.clear();
    }
  }

  /** A JSON request with a JSON answer of `status` checked against `schema`. */
  async json<T>(req: AgentRequest, schema: z.ZodType<T>, status = 200): Promise<T> {
    const answer = await this.request(req, { json: { status, schema } });
    if (answer.kind !== "json") throw malformed("a stream where JSON was due");
    return answer.body;
  }

  /**
   * A process's event stream (POST /processes in the foreground, GET /processes/events):
   * resolves once the agent's first event has come, with every event handed to `onEvent`.
   */
  async events(req: AgentRequest, onEvent: (event: ProcessEvent) => void): Promise<Readable> {
    const { res, deadline } = await this.exchange(req);
    try {
      const status = checkStatus(res);
      if (status >= 300) {
        throw errorFromAnswer(status, await readBounded(res, AGENT_ANSWER_LIMITS.errorBytes));
      }
      if (status !== 200) throw malformed(`${status} where an event stream was due`);
      return await firstEvent(res, PROCESS_EVENTS, onEvent);
    } catch (err) {
      res.destroy();
      throw err;
    } finally {
      deadline.clear();
    }
  }

  /** Opens an upgraded connection (see upgrade.ts); a refusal is the agent's error. */
  upgrade(
    path: string,
    protocol: string,
    options: { method?: string; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<Upgraded> {
    let socketPath: string;
    try {
      socketPath = this.socketPath;
    } catch (err) {
      return Promise.reject(classifyTransport(err));
    }
    return upgradeAgent(socketPath, path, protocol, {
      method: options.method ?? "GET",
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? this.timeouts.handshakeMs,
    });
  }

  /** A byte stream to `port` on the sandbox's loopback (TUNNEL_UPGRADE). */
  async tunnel(port: number, signal?: AbortSignal): Promise<Upgraded> {
    return this.upgrade(`/tunnel?port=${port}`, TUNNEL_UPGRADE, { signal });
  }

  /**
   * A process's live connection (PROCESS_STREAM_UPGRADE): its NDJSON events come on it (with
   * `output` false only start and exit), ProcessInput lines go. A refusal (no such process) is
   * the agent's error, before anything is switched.
   */
  async processStream(ref: string, output: boolean, signal?: AbortSignal): Promise<Upgraded> {
    const query = new URLSearchParams({ ref, output: String(output) });
    return this.upgrade(`/processes/stream?${query}`, PROCESS_STREAM_UPGRADE, { signal });
  }

  /** The connection the agent's DNS stub carries the sandbox's queries on (DNS_UPGRADE). */
  async dnsStream(signal?: AbortSignal): Promise<Upgraded> {
    return this.upgrade("/dns", DNS_UPGRADE, { signal });
  }

  /** Reads a small file in the sandbox (at most `limit` bytes) through the agent. */
  async readFile(path: string, limit = 1024 * 1024): Promise<Buffer> {
    const { res, deadline } = await this.exchange({
      method: "GET",
      path: `/files/read?${new URLSearchParams({ path })}`,
    });
    try {
      const status = checkStatus(res);
      if (status !== 200) {
        throw status >= 300
          ? errorFromAnswer(status, await readBounded(res, AGENT_ANSWER_LIMITS.errorBytes))
          : malformed(`${status} to a file read`);
      }
      return await readBounded(
        res,
        limit,
        () => new PaddockError("payload_too_large", `${path} is over ${limit} bytes`),
      );
    } finally {
      deadline.clear();
    }
  }

  /** Streams a file of any size out of the sandbox through the agent. */
  async download(path: string, signal?: AbortSignal): Promise<Readable> {
    const answer = await this.request(
      { method: "GET", path: `/files/read?${new URLSearchParams({ path })}`, signal },
      { bytes: true },
    );
    if (answer.kind !== "stream") throw malformed("a JSON answer to a file read");
    return answer.body;
  }

  /** Writes a small file in the sandbox through the agent (atomically, parents made). */
  async writeFile(path: string, data: string | Buffer): Promise<FileEntry> {
    return this.json(
      {
        method: "PUT",
        path: `/files/write?${new URLSearchParams({ path })}`,
        body: data,
        contentType: "application/octet-stream",
      },
      FileEntrySchema,
    );
  }

  /** Has the agent kill the sandbox's largest process (gVisor's OOM killer); what it killed. */
  async oomKill(): Promise<OomKillAnswer["killed"]> {
    const answer = await this.json(
      { method: "POST", path: "/memory/oom-kill", timeoutMs: this.timeouts.callMs },
      OomKillAnswerSchema,
    );
    return answer.killed;
  }

  /**
   * The last call before a checkpoint: the agent stops listening, has paddock-init let go of
   * the socket, answers, and cuts every connection (see the agent's listener.ts).
   */
  async release(): Promise<void> {
    await this.json(
      { method: "POST", path: "/lifecycle/release", timeoutMs: this.timeouts.callMs },
      ReleaseAnswerSchema,
    );
  }

  /** Replaces the env of the processes started from now on (a claimed warm-pool sandbox's). */
  async setEnv(env: Record<string, string>): Promise<void> {
    await this.json(
      {
        method: "PUT",
        path: AGENT_ENV_ROUTE,
        body: JSON.stringify(env),
        contentType: "application/json",
        timeoutMs: this.timeouts.callMs,
      },
      AgentEnvAnswerSchema,
    );
  }

  async health(timeoutMs: number = this.timeouts.callMs): Promise<Health> {
    return this.json({ method: "GET", path: "/health", timeoutMs }, HealthSchema);
  }

  close(): void {
    this.httpAgent.destroy();
    if (this.pinned !== undefined) closeSync(this.pinned);
    this.pinned = undefined;
  }
}

/** Headers of a download passed on to the API's client: its type and length, checked. */
function streamHeaders(res: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  const type = res.headers["content-type"];
  out["content-type"] =
    typeof type === "string" && /^[\w.+-]+\/[\w.+-]+$/.test(type)
      ? type
      : "application/octet-stream";
  for (const name of ["content-length", SIZE_HINT_HEADER]) {
    const value = res.headers[name];
    if (value === undefined) continue;
    if (typeof value !== "string" || !/^\d{1,16}$/.test(value))
      throw malformed(`a ${name} of ${JSON.stringify(value)}`);
    out[name] = value;
  }
  return out;
}

/**
 * The answer's event stream, checked (EventLines), once its first event (`start`) has come:
 * before that a failure is still an error answer; after it, a failure cuts the stream. The
 * stream's reader going away cuts the agent's answer too.
 */
function firstEvent<E extends { type: string }>(
  res: http.IncomingMessage,
  protocol: EventProtocol<E>,
  onEvent: (event: E) => void = () => {},
): Promise<Readable> {
  return new Promise((resolve, reject) => {
    let started = false;
    const lines = new EventLines<E>(
      (event) => {
        if (!started) {
          if (event.type !== protocol.first)
            throw malformed(`a ${event.type} event before the ${protocol.first} event`);
          started = true;
          resolve(lines);
        }
        onEvent(event);
      },
      undefined,
      protocol,
    );
    const fail = (err: Error) => {
      const classified =
        err instanceof PaddockError ? err : malformed("an event stream that was cut off", err);
      if (!started) reject(classified);
      if (!lines.destroyed) lines.destroy(classified);
      res.destroy();
    };
    res.on("error", fail);
    res.once("close", () => {
      if (!res.complete) fail(malformed("an event stream that was cut off"));
    });
    lines.on("error", fail);
    lines.once("close", () => res.destroy());
    // Until the first event, what comes waits in the transform's own (bounded) buffers.
    res.pipe(lines);
  });
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
      noSocketYet = errnoOf(err) === "ENOENT";
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
