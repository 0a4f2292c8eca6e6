import {
  ExecRequestSchema,
  KillRequestSchema,
  ProcessInfoSchema,
  ProcessRefParamsSchema,
  TerminalSizeSchema,
  type ExecRequest,
  type ProcessExit,
  type ProcessInfo,
  type TerminalSize,
} from "@paddock/protocol";
import { checkArgument, localError } from "./errors.js";
import type { HttpClient } from "./http.js";
import { OutputStream } from "./output-stream.js";
import { ProcessSocket } from "./process-socket.js";

export interface TerminalCreateOptions extends Pick<
  ExecRequest,
  "cwd" | "env" | "user" | "timeoutMs" | "tag"
> {
  /** Columns; default 80. */
  cols?: number;
  /** Rows; default 24. */
  rows?: number;
  /** The program and its arguments; default: the user's login shell. */
  command?: string[];
  /** Called with each piece of output as it comes (also readable as `terminal.output`). */
  onData?: (data: Uint8Array) => void;
  signal?: AbortSignal;
}

export interface TerminalConnectOptions {
  onData?: (data: Uint8Array) => void;
  signal?: AbortSignal;
}

/**
 * Terminals in one sandbox: `sandbox.pty`. A terminal's process runs in the background on a
 * pseudo-terminal, so it outlives the client: disconnect and `connect` again by pid.
 *
 * @example
 * ```ts
 * const term = await sandbox.pty.create({ cols: 120, rows: 40, onData: (d) => process.stdout.write(d) });
 * await term.sendInput("ls -la\n");
 * await term.sendInput("exit\n");
 * const { exitCode } = await term.wait();
 * ```
 */
export class Pty {
  /** @internal */
  constructor(
    private readonly http: HttpClient,
    private readonly base: string,
  ) {}

  /**
   * Starts a program (default: the user's login shell) on a new terminal and connects to it.
   * TERM is xterm-256color unless `env` says otherwise.
   *
   * @example
   * ```ts
   * const term = await sandbox.pty.create({ command: ["python3"], cols: 100, rows: 30 });
   * ```
   */
  async create(options: TerminalCreateOptions = {}): Promise<Terminal> {
    const { cols = 80, rows = 24, command = [], onData, signal, ...rest } = options;
    const body = {
      ...rest,
      argv: command,
      pty: { cols, rows },
      background: true,
      stdin: true,
    };
    checkArgument(ExecRequestSchema, body, "pty.create");
    const info = await this.http.json("POST", this.base, ProcessInfoSchema, { json: body, signal });
    return this.connect(info.pid, { onData, signal });
  }

  /**
   * Reattaches to a terminal's process by pid (or tag): its kept recent output first, then live.
   *
   * @example
   * ```ts
   * const term = await sandbox.pty.connect(pid, { onData: (d) => process.stdout.write(d) });
   * ```
   */
  async connect(pid: number | string, options: TerminalConnectOptions = {}): Promise<Terminal> {
    const ref = checkArgument(ProcessRefParamsSchema.shape.ref, String(pid), "pid");
    const output = new OutputStream();
    const socket = await ProcessSocket.open(
      this.http,
      `${this.base}/${encodeURIComponent(ref)}/stream`,
      {
        output: true,
        signal: options.signal,
        onBytes: (data) => {
          options.onData?.(data);
          return output.push(data);
        },
        onEvent: (event) => {
          // A terminal has one stream; stderr only comes from a process that is not on one.
          if (event.type === "stderr") {
            const data = Buffer.from(event.data, "base64");
            options.onData?.(data);
            void output.push(data);
          }
        },
      },
    );
    return new Terminal(this.http, this.base, socket, output);
  }
}

/**
 * A process on a pseudo-terminal. Its output is one byte stream: `output` (async iterable) or
 * the `onData` callback. Ctrl-C is `sendInput("\x03")`, end of input `sendInput("\x04")`.
 */
export class Terminal implements AsyncIterable<Uint8Array> {
  readonly pid: number;
  private readonly exited: Promise<ProcessExit>;

  /** @internal */
  constructor(
    private readonly http: HttpClient,
    private readonly base: string,
    private readonly socket: ProcessSocket,
    /** Everything the terminal shows, as it comes. */
    readonly output: OutputStream,
  ) {
    this.pid = socket.start.pid;
    this.exited = socket.ended.then(
      (exit) => {
        output.end();
        if (exit) return exit;
        throw localError(
          "invalid_request",
          `disconnected from terminal ${this.pid}, which runs on; reattach with sandbox.pty.connect(${this.pid})`,
        );
      },
      (err: unknown) => {
        output.end(err);
        throw err;
      },
    );
    this.exited.catch(() => {});
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.output[Symbol.asyncIterator]();
  }

  /**
   * Types into the terminal (text as UTF-8, or raw bytes).
   *
   * @example
   * ```ts
   * await term.sendInput("echo hi\n");
   * ```
   */
  async sendInput(data: string | Uint8Array): Promise<void> {
    await this.socket.send(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  /**
   * Changes the terminal's size; its foreground program gets SIGWINCH.
   *
   * @example
   * ```ts
   * await term.resize({ cols: 132, rows: 43 });
   * ```
   */
  async resize(size: TerminalSize): Promise<void> {
    const { cols, rows } = checkArgument(TerminalSizeSchema, size, "resize");
    await this.socket.input({ type: "resize", cols, rows });
  }

  /**
   * Sends a signal (default SIGKILL) to the terminal's process group.
   *
   * @example
   * ```ts
   * await term.kill("SIGHUP");
   * ```
   */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ProcessInfo> {
    checkArgument(KillRequestSchema, { signal }, "kill");
    return this.http.json("POST", `${this.base}/${this.pid}/kill`, ProcessInfoSchema, {
      json: { signal },
    });
  }

  /**
   * Resolves when the process exits; rejects if this handle was disconnected first.
   *
   * @example
   * ```ts
   * const { exitCode } = await term.wait();
   * ```
   */
  wait(): Promise<ProcessExit> {
    return this.exited;
  }

  /** Closes this connection; the process runs on (reattach with `sandbox.pty.connect`). */
  disconnect(): void {
    this.socket.close();
  }
}
