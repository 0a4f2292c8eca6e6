import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  CODE_LIMITS,
  CodeErrorSchema,
  type CodeContext as CodeContextInfo,
  type CodeContextSpec,
  type CodeError,
  type CodeRunEvent,
  type ExecSpec,
  type ProcessExit,
} from "@paddock/protocol";
import { z } from "zod";
import type { EventSink, ManagedProcess } from "../processes/managed-process.js";
import type { ProcessTable } from "../processes/process-table.js";
import { AgentError } from "../router.js";
import { MarkerScanner } from "./marker-scanner.js";
import { NODE_DRIVER } from "./node-driver.js";
import { PYTHON_DRIVER } from "./python-driver.js";

/** After an interrupt, how long the code has to stop before its interpreter is killed. */
export const INTERRUPT_GRACE_MS = 3000;

/** What the driver reports at the end of a run (see python-driver.ts). */
const DriverResultSchema = z.object({
  value: z.string().nullable(),
  error: CodeErrorSchema.nullable(),
});

/** Where a run's events go; `send` returning false means "wait for onDrain". */
export interface RunSink {
  send(event: CodeRunEvent): boolean;
  onDrain(listener: () => void): void;
}

/** What a context needs of the agent. */
export interface CodeContextDeps {
  table: ProcessTable;
  /** How to start node (in a sandbox, AGENT_NODE_ARGV: the agent's own node). */
  nodeArgv: readonly string[];
}

export interface RunOptions {
  timeoutMs?: number;
  /** Aborted when the run's client went away: the run is interrupted, its result dropped. */
  signal: AbortSignal;
}

/** One run in progress: its sink, and what has arrived of its end. */
interface ActiveRun {
  sink: RunSink;
  result?: z.infer<typeof DriverResultSchema>;
  stderrEnded: boolean;
  finish: () => void;
}

const describeExit = (exit: ProcessExit) =>
  exit.signal
    ? `was killed by ${exit.signal}${exit.signal === "SIGKILL" ? " (out of memory, or a kill)" : ""}`
    : `exited (exit code ${exit.exitCode})`;

/**
 * A long-lived interpreter that keeps its state between runs. It is an ordinary managed process
 * (tag `code.<id>`) running a driver; its output is read through an attached event sink and cut
 * into runs by the driver's markers. Runs go one at a time: each waits for the one before.
 */
export class CodeContext {
  readonly createdAt = new Date();
  private proc!: ManagedProcess;
  private token!: Buffer;
  private scanners!: Record<"stdout" | "stderr", MarkerScanner>;
  private active: ActiveRun | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Why the interpreter was stopped from here (restart, close), for the run it ends. */
  private stopping: string | undefined;
  /** The process's sink: pipes pause while a run's client is slow (see ManagedProcess). */
  private readonly sink = Object.assign(new EventEmitter(), {
    write: (line: string) => this.onEvent(line),
    end: () => {},
  }) satisfies EventSink;
  private blocked = false;
  private closed = false;

  private constructor(
    readonly id: string,
    readonly spec: CodeContextSpec,
    private readonly deps: CodeContextDeps,
  ) {}

  static async start(
    id: string,
    spec: CodeContextSpec,
    deps: CodeContextDeps,
  ): Promise<CodeContext> {
    const context = new CodeContext(id, spec, deps);
    await context.startInterpreter();
    return context;
  }

  get running(): boolean {
    return this.proc.running;
  }

  info(): CodeContextInfo {
    return {
      id: this.id,
      language: this.spec.language,
      cwd: this.spec.cwd ?? process.cwd(),
      pid: this.proc.pid,
      running: this.proc.running,
      exit: this.proc.exit,
      createdAt: this.createdAt.toISOString(),
    };
  }

  /** Refuses a run before it is answered: a dead interpreter is a clear conflict. */
  checkAlive(): void {
    if (this.proc.exit) throw new AgentError("conflict", this.deadMessage(this.proc.exit));
  }

  /** Runs code after the runs before it; every event goes to `sink`, the result last. */
  async run(code: string, sink: RunSink, options: RunOptions): Promise<void> {
    const before = this.queue;
    let release!: () => void;
    this.queue = new Promise((resolve) => (release = resolve));
    try {
      await before;
      if (options.signal.aborted) return;
      if (this.closed) {
        sink.send({ type: "error", code: "not_found", message: `context ${this.id} was closed` });
        return;
      }
      if (this.proc.exit) {
        sink.send({ type: "error", code: "conflict", message: this.deadMessage(this.proc.exit) });
        return;
      }
      await this.runNow(code, sink, options);
    } finally {
      release();
    }
  }

  /** A fresh interpreter under the same id: the state is gone, queued runs go on in it. */
  async restart(): Promise<void> {
    await this.stop("the context was restarted while this code ran");
    await this.startInterpreter();
  }

  /** Kills the interpreter for good; runs still waiting get an error. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop("the context was closed while this code ran");
  }

  private async stop(why: string): Promise<void> {
    this.stopping = why;
    this.proc.kill("SIGKILL");
    await this.proc.done;
  }

  private async startInterpreter(): Promise<void> {
    const token = randomBytes(16).toString("hex");
    const limit = String(CODE_LIMITS.valueLength);
    const argv =
      this.spec.language === "python"
        ? ["python3", "-u", "-c", PYTHON_DRIVER, token, limit]
        : [...this.deps.nodeArgv, "-e", NODE_DRIVER, token, limit];
    const exec: ExecSpec = {
      argv,
      cwd: this.spec.cwd,
      env: this.spec.env,
      user: this.spec.user,
      stdin: true,
      background: true,
      tag: `code.${this.id}`,
    };
    this.proc = await this.deps.table.start(exec).catch((err: unknown) => {
      if (err instanceof AgentError && err.code === "command_not_found" && argv[0] === "python3")
        throw new AgentError(
          "command_not_found",
          `this sandbox's image has no python3 on its PATH: create the sandbox from an image with Python (debian, python:3), or run JavaScript with language "node"`,
        );
      throw err;
    });
    this.token = Buffer.from(`\0${token}`);
    this.stopping = undefined;
    this.scanners = {
      stdout: new MarkerScanner(
        this.token,
        (data) => this.output("stdout", data),
        (payload) => this.resultArrived(payload),
      ),
      stderr: new MarkerScanner(
        this.token,
        (data) => this.output("stderr", data),
        () => this.stderrEnded(),
      ),
    };
    this.proc.attach(this.sink);
  }

  private async runNow(code: string, sink: RunSink, options: RunOptions): Promise<void> {
    const proc = this.proc;
    let timedOut = false;
    let killedAfterInterrupt = false;
    let escalate: NodeJS.Timeout | undefined;
    const interrupt = () => {
      proc.kill("SIGINT");
      escalate ??= setTimeout(() => {
        killedAfterInterrupt = true;
        proc.kill("SIGKILL");
      }, INTERRUPT_GRACE_MS);
    };
    const ended = new Promise<void>((finish) => {
      this.active = { sink, stderrEnded: false, finish };
    });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            interrupt();
          }, options.timeoutMs);
    options.signal.addEventListener("abort", interrupt, { once: true });
    proc.stdin?.write(`${JSON.stringify({ code })}\n`);
    await Promise.race([ended, proc.done]);
    // Output drained after an exit arrives before `done`, through the sink.
    clearTimeout(timer);
    clearTimeout(escalate);
    options.signal.removeEventListener("abort", interrupt);
    const active = this.active!;
    this.active = undefined;
    if (this.blocked) {
      this.blocked = false;
      this.sink.emit("drain");
    }
    let error: CodeError | null = active.result?.error ?? null;
    if (proc.exit && !active.result) {
      error = {
        name: "InterpreterDied",
        message: this.stopping ?? `${this.deadMessage(proc.exit)} while this code ran`,
        traceback: "",
      };
    }
    if (timedOut) {
      const what = killedAfterInterrupt
        ? `did not stop within ${INTERRUPT_GRACE_MS} ms of the interrupt, so the interpreter was killed: restart the context`
        : "was interrupted; the context and its state are kept";
      error = {
        name: "TimeoutError",
        message: `the code ran past its timeout of ${options.timeoutMs} ms and ${what}`,
        traceback: error?.traceback ?? "",
      };
    }
    sink.send({
      type: "result",
      context: this.id,
      value: active.result?.value ?? null,
      error,
      timedOut,
    });
  }

  /** One event line of the interpreter's process, as ManagedProcess made it (not outside data). */
  private onEvent(line: string): boolean {
    const event = JSON.parse(line) as { type: string; data?: string };
    if (event.type === "stdout" || event.type === "stderr") {
      this.scanners[event.type].push(Buffer.from(event.data ?? "", "base64"));
    } else if (event.type === "exit") {
      this.scanners.stdout.flush();
      this.scanners.stderr.flush();
    }
    return !this.blocked;
  }

  private output(type: "stdout" | "stderr", data: Buffer): void {
    // Output between runs (a background child of an earlier run) has no reader.
    const active = this.active;
    if (!active) return;
    if (!active.sink.send({ type, data: data.toString("base64") }) && !this.blocked) {
      this.blocked = true;
      active.sink.onDrain(() => {
        if (!this.blocked || this.active !== active) return;
        this.blocked = false;
        this.sink.emit("drain");
      });
    }
  }

  private resultArrived(payload: Buffer): void {
    const active = this.active;
    if (!active) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString("utf8"));
    } catch {
      parsed = undefined;
    }
    const checked = DriverResultSchema.safeParse(parsed);
    active.result = checked.success
      ? checked.data
      : {
          value: null,
          error: {
            name: "DriverError",
            message: "the driver's result was unreadable",
            traceback: "",
          },
        };
    if (active.stderrEnded) active.finish();
  }

  private stderrEnded(): void {
    const active = this.active;
    if (!active) return;
    active.stderrEnded = true;
    if (active.result) active.finish();
  }

  private deadMessage(exit: ProcessExit): string {
    return (
      this.stopping ??
      `the ${this.spec.language} interpreter of context ${this.id} ${describeExit(exit)}, and its state is gone: restart the context (code.restart) or close it`
    );
  }
}
