import {
  KillRequestSchema,
  ProcessEventSchema,
  ProcessInfoSchema,
  type ProcessExit,
  type ProcessInfo,
} from "@paddock/protocol";
import { AgentUnavailableError, checkArgument, cutError, InvalidResponseError } from "./errors.js";
import { checkedValue, ndjson, type HttpClient } from "./http.js";
import { OutputStream } from "./output-stream.js";
import { ProcessSocket } from "./process-socket.js";

export type StdinData = string | Uint8Array | ReadableStream<Uint8Array>;

const toBody = (data: StdinData): Uint8Array | ReadableStream<Uint8Array> =>
  typeof data === "string" ? new TextEncoder().encode(data) : data;

/**
 * A process running in a sandbox. Its output arrives live on `stdout` and `stderr`; `wait()`
 * gives the exit. A non-zero exit code is a result, not an error.
 *
 * @example
 * ```ts
 * const proc = await sandbox.process.exec("ls", "-la", "/");
 * for await (const chunk of proc.stdout) process.stdout.write(chunk);
 * const { exitCode } = await proc.wait();
 * ```
 */
export class SandboxProcess {
  readonly stdout = new OutputStream();
  readonly stderr = new OutputStream();
  private readonly exited: Promise<ProcessExit>;

  /** @internal */
  constructor(
    private readonly http: HttpClient,
    private readonly base: string,
    readonly pid: number,
    readonly tag: string | null,
    events: AsyncGenerator<unknown>,
    private readonly signal?: AbortSignal,
  ) {
    this.exited = this.consume(events);
    // wait() may be called late, or never; an unobserved failure must not crash the program.
    this.exited.catch(() => {});
  }

  /** @internal Reads the start event of a stream, then hands the rest to a SandboxProcess. */
  static async fromEvents(
    http: HttpClient,
    base: string,
    body: ReadableStream<Uint8Array> | null,
    signal?: AbortSignal,
  ): Promise<SandboxProcess> {
    const events = ndjson(body, {
      what: "the process's event stream",
      cut: "agent_unavailable",
      signal,
    });
    const first = await events.next();
    const start = ProcessEventSchema.safeParse(first.value);
    if (first.done || !start.success || start.data.type !== "start") {
      await events.return(undefined);
      throw new InvalidResponseError(
        "invalid_response",
        first.done
          ? "the process stream ended before its start event"
          : "the process stream did not begin with a start event",
        200,
        undefined,
        { cause: start.error },
      );
    }
    return new SandboxProcess(http, base, start.data.pid, start.data.tag, events, signal);
  }

  private async consume(events: AsyncGenerator<unknown>): Promise<ProcessExit> {
    try {
      for await (const raw of events) {
        const event = checkedValue(ProcessEventSchema, raw, `process ${this.pid} sent an event`);
        if (event.type === "stdout") await this.stdout.push(Buffer.from(event.data, "base64"));
        else if (event.type === "stderr") await this.stderr.push(Buffer.from(event.data, "base64"));
        else if (event.type === "exit") {
          this.stdout.end();
          this.stderr.end();
          return {
            exitCode: event.exitCode,
            signal: event.signal,
            timedOut: event.timedOut,
            oomKilled: event.oomKilled,
          };
        }
      }
      throw new AgentUnavailableError(
        "agent_unavailable",
        `the output stream of process ${this.pid} ended before it exited (did the sandbox end?)`,
        503,
      );
    } catch (caught) {
      // A connection cut under the reader (the sandbox ended, the daemon went away) is a
      // PaddockError like every other failure, never a bare "aborted"; ndjson classifies it, and
      // this is the net under anything else.
      const err = cutError(
        caught,
        `the output stream of process ${this.pid}`,
        "agent_unavailable",
        this.signal,
      );
      this.stdout.end(err);
      this.stderr.end(err);
      throw err;
    }
  }

  /**
   * Resolves when the process exits: `{ exitCode, signal, timedOut }`.
   *
   * @example
   * ```ts
   * const { exitCode, timedOut } = await proc.wait();
   * ```
   */
  wait(): Promise<ProcessExit> {
    return this.exited;
  }

  /**
   * Waits for exit and returns everything it printed as text, with the exit.
   *
   * @example
   * ```ts
   * const { stdout, exitCode } = await (await sandbox.process.exec("uname", "-a")).output();
   * ```
   */
  async output(): Promise<ProcessExit & { stdout: string; stderr: string }> {
    const [stdout, stderr, exit] = await Promise.all([
      this.stdout.text(),
      this.stderr.text(),
      this.exited,
    ]);
    return { ...exit, stdout, stderr };
  }

  /**
   * Sends a signal (default SIGKILL) to the process and everything it started.
   *
   * @example
   * ```ts
   * await proc.kill("SIGTERM");
   * ```
   */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ProcessInfo> {
    checkArgument(KillRequestSchema, { signal }, "kill");
    return this.http.json("POST", `${this.base}/${this.pid}/kill`, ProcessInfoSchema, {
      json: { signal },
    });
  }

  /**
   * Writes to the process's stdin (it must have been started with `stdin: true`).
   *
   * @example
   * ```ts
   * await proc.writeStdin("hello\n");
   * await proc.closeStdin();
   * ```
   */
  async writeStdin(data: StdinData, options: { close?: boolean } = {}): Promise<void> {
    await this.http.send("POST", `${this.base}/${this.pid}/stdin`, {
      body: toBody(data),
      query: { close: options.close ? "true" : "false" },
    });
  }

  /**
   * @internal Feeds `source` to stdin as it is read, over the process's WebSocket, then closes
   * stdin. Returns at once. Once the process exits the source is cancelled (not an error: a
   * program may well exit before reading all its input), and so it is if the socket fails.
   */
  streamStdin(source: ReadableStream<Uint8Array>): void {
    const reader = source.getReader();
    let exited = false;
    const stop = (reason?: unknown) => {
      exited = true;
      reader.cancel(reason).catch(() => {});
    };
    this.exited.then(
      () => stop(),
      () => stop(),
    );
    void (async () => {
      let socket: ProcessSocket | undefined;
      try {
        socket = await ProcessSocket.open(this.http, `${this.base}/${this.pid}/stream`, {
          output: false,
          onBytes: () => {},
        });
        socket.ended.then(
          () => stop(),
          () => stop(),
        );
        for (;;) {
          const { done, value } = await reader.read();
          if (done || exited) break;
          await socket.send(value);
        }
        if (!exited) await socket.input({ type: "closeStdin" });
        // Open until the exit comes, so nothing sent is cut by an early close.
        await socket.ended;
      } catch (err) {
        if (!exited) stop(err);
      } finally {
        socket?.close();
      }
    })();
  }

  /** Closes stdin: the process reads end-of-file. */
  async closeStdin(): Promise<void> {
    await this.writeStdin(new Uint8Array(0), { close: true });
  }
}
