import WebSocket, { type RawData } from "ws";
import {
  ErrorCodeSchema,
  ProcessEventSchema,
  StreamErrorMessageSchema,
  type ProcessEvent,
  type ProcessExit,
  type ProcessInput,
} from "@paddock/protocol";
import {
  errorFromResponse,
  InvalidResponseError,
  NetworkError,
  describeCause,
  localError,
  type PaddockError,
} from "./errors.js";
import type { HttpClient } from "./http.js";

/** Stdin goes in messages of at most this many bytes (the daemon takes up to 1 MiB). */
const INPUT_CHUNK_BYTES = 64 * 1024;
/** Bytes queued to the daemon before `send` waits for them to leave. */
const SEND_HIGH_WATER_BYTES = 1024 * 1024;

export interface ProcessSocketHandlers {
  /** stdout bytes (a terminal's whole output); a promise pauses the socket until it settles. */
  onBytes(data: Uint8Array): void | Promise<void>;
  /** Every other event (start, stderr, truncated, exit), checked against the protocol. */
  onEvent?(event: ProcessEvent): void;
}

/**
 * A process's WebSocket (`GET /v1/sandboxes/:id/processes/:ref/stream`): its output comes in,
 * its stdin, resizes and end of input go out. Opened with `open`, which resolves once the
 * process's start event has come (a refusal before that is the daemon's error).
 */
export class ProcessSocket {
  /** Resolves with the exit, or undefined when closed here first; rejects with a PaddockError. */
  readonly ended: Promise<ProcessExit | undefined>;
  private closedHere = false;

  private constructor(
    private readonly ws: WebSocket,
    readonly start: Extract<ProcessEvent, { type: "start" }>,
    ended: Promise<ProcessExit | undefined>,
  ) {
    this.ended = ended;
  }

  /** Opens the socket of process `ref` under `base` (a sandbox's processes path). */
  static open(
    http: HttpClient,
    path: string,
    options: { output: boolean; signal?: AbortSignal } & ProcessSocketHandlers,
  ): Promise<ProcessSocket> {
    const url = new URL(`${http.options.url}${path}`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("output", String(options.output));
    const headers: Record<string, string> = {};
    if (http.options.token) headers.authorization = `Bearer ${http.options.token}`;
    // No compression: terminal traffic is keystrokes, where it only adds latency.
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    const where = `the process stream ${url.pathname}`;
    return new Promise((resolve, reject) => {
      let started: ProcessSocket | undefined;
      let finished = false;
      let exit: ProcessExit | undefined;
      let failure: PaddockError | undefined;
      let settleEnd: (value: ProcessExit | undefined) => void = () => {};
      let failEnd: (err: PaddockError) => void = () => {};
      const ended = new Promise<ProcessExit | undefined>((res, rej) => {
        settleEnd = res;
        failEnd = rej;
      });
      // A socket refused before its start rejects `open`; this end is then never read.
      ended.catch(() => {});
      const fail = (err: PaddockError) => {
        failure ??= err;
        if (!started) reject(failure);
        ws.terminate();
      };
      const onAbort = () => {
        if (!started) fail(new NetworkError("network_error", `${where} was aborted`, 0));
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.signal?.aborted) onAbort();

      ws.on("unexpected-response", (req, res) => {
        // Refused before the switch: an ordinary error answer.
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", () => {});
        res.on("end", () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            body = undefined;
          }
          fail(errorFromResponse(res.statusCode ?? 502, body));
          req.destroy();
        });
      });
      ws.on("error", (err) => {
        fail(
          new NetworkError(
            "network_error",
            `cannot use ${where} at ${http.options.url}: ${describeCause(err)}. Is \`paddock serve\` running?`,
            0,
            undefined,
            { cause: err },
          ),
        );
      });
      ws.on("message", (data: RawData, isBinary: boolean) => {
        if (finished) return;
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
        if (isBinary) {
          if (!started) return fail(invalid(`${where} sent output before its start event`));
          const pending = options.onBytes(bytes);
          if (pending) {
            ws.pause();
            void pending.finally(() => ws.resume());
          }
          return;
        }
        const message = parseMessage(bytes.toString("utf8"), where);
        if ("error" in message) return fail(message.error);
        const event = message.event;
        if (!started) {
          if (event.type !== "start") {
            return fail(invalid(`${where} did not begin with a start event`));
          }
          started = new ProcessSocket(ws, event, ended);
          options.signal?.removeEventListener("abort", onAbort);
          resolve(started);
        }
        if (event.type === "exit") {
          finished = true;
          exit = {
            exitCode: event.exitCode,
            signal: event.signal,
            timedOut: event.timedOut,
            oomKilled: event.oomKilled,
          };
        }
        options.onEvent?.(event);
      });
      ws.on("close", (code) => {
        options.signal?.removeEventListener("abort", onAbort);
        if (exit) return settleEnd(exit);
        if (started?.closedHere && !failure) return settleEnd(undefined);
        failure ??= new NetworkError(
          "network_error",
          `${where} was cut before the process exited (close code ${code}); did the daemon end?`,
          0,
        );
        if (!started) reject(failure);
        failEnd(failure);
      });
    });
  }

  /** Sends stdin bytes; resolves once they are handed to the connection (waits when behind). */
  async send(data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; at += INPUT_CHUNK_BYTES) {
      await this.transmit(data.subarray(at, at + INPUT_CHUNK_BYTES), true);
    }
  }

  /** Sends a resize or the end of input. */
  async input(message: Exclude<ProcessInput, { type: "stdin" }>): Promise<void> {
    await this.transmit(JSON.stringify(message), false);
  }

  /** Closes the socket; the process lives on. */
  close(): void {
    this.closedHere = true;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(1000);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  private transmit(data: Uint8Array | string, binary: boolean): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(
        new NetworkError(
          "network_error",
          "the process stream is closed; reattach to the process to send it more",
          0,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.ws.send(data, { binary }, (err) => {
        if (err) {
          reject(
            new NetworkError("network_error", `sending to the process failed: ${err.message}`, 0),
          );
        } else resolve();
      });
      // Under the high-water mark the next send need not wait for this one to leave.
      if (this.ws.bufferedAmount <= SEND_HIGH_WATER_BYTES) resolve();
    });
  }
}

const invalid = (message: string) => new InvalidResponseError("invalid_response", message, 101);

/** A text message: a process event, or the daemon's error (as the error to raise). */
function parseMessage(
  text: string,
  where: string,
): { event: ProcessEvent } | { error: PaddockError } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {
      error: invalid(`${where} sent a text message that is not JSON: ${text.slice(0, 200)}`),
    };
  }
  const failed = StreamErrorMessageSchema.safeParse(value);
  if (failed.success) {
    const code = ErrorCodeSchema.safeParse(failed.data.code);
    if (!code.success) return { error: invalid(`${where} failed: ${failed.data.message}`) };
    return { error: localError(code.data, failed.data.message) };
  }
  const event = ProcessEventSchema.safeParse(value);
  if (!event.success || event.data.type === "stdout") {
    return { error: invalid(`${where} sent a message that is not Paddock's protocol`) };
  }
  return { event: event.data };
}
