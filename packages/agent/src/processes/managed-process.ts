import type { Writable } from "node:stream";
import type {
  ExecSpec,
  ProcessEvent,
  ProcessExit,
  ProcessInfo,
  TerminalSize,
} from "@paddock/protocol";
import { endedByOom, kernelOomKills } from "../memory/oom-witness.js";
import { AgentError } from "../router.js";
import { EventHistory, type HistoryBudget } from "./event-history.js";
import { Spawner, type SpawnedChild } from "./spawner.js";

/** Where event lines go; `write` returning false means "slow down". */
export interface EventSink {
  write(line: string): boolean;
  once(event: "drain", listener: () => void): unknown;
  end(): void;
}

export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  historyBytes: number;
  /** Shared by every process of the sandbox: the agent's memory for histories in bytes. */
  historyBudget?: HistoryBudget;
  /** Between SIGTERM and SIGKILL when a timeout fires. */
  killGraceMs: number;
}

/**
 * After the process exits, its pipes are read until empty; then, while a grandchild still
 * holds them (`sleep 99 &`), output is followed until it has been idle this long...
 */
const OUTPUT_GRACE_MS = 100;
/** ...but never longer than this after the exit (a grandchild that never stops writing). */
const GRANDCHILD_FOLLOW_MS = 2000;
/** Reads of what is waiting in a pipe at the last look (64 KiB each: a whole pipe buffer). */
const FINAL_READS = 64;
const READ_BYTES = 64 * 1024;
const EVENT_SLICE_BYTES = 16 * 1024;
/** SIGKILL rounds (10 ms apart) for a group that keeps forking. */
const KILL_ROUNDS = 200;

/** Signals a process group; false once it is empty. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * One process started by the agent, in its own process group. Its output is published as event
 * lines to every attached sink and kept in a bounded history for sinks that attach later.
 * A slow sink pauses the process's pipes (backpressure) rather than growing memory.
 */
export class ManagedProcess {
  readonly startedAt = new Date();
  /** The kernel's OOM kill count when it started (see oom-witness.ts). */
  private readonly oomKillsAtStart = kernelOomKills();
  exit: ProcessExit | null = null;
  readonly done: Promise<ProcessExit>;
  private readonly history: EventHistory;
  private readonly sinks = new Set<EventSink>();
  private readonly waiting = new Set<EventSink>();
  private timedOut = false;
  /** A terminal's current size; null for a process on pipes. */
  private terminal: TerminalSize | null;
  /** Restarts the wait for output after exit (set while draining): output resumed. */
  private rearmDrain: (() => void) | undefined;
  private resolveDone!: (exit: ProcessExit) => void;

  private constructor(
    private readonly child: SpawnedChild,
    readonly pid: number,
    readonly spec: ExecSpec,
    private readonly options: SpawnOptions,
  ) {
    this.history = new EventHistory(options.historyBytes, options.historyBudget);
    this.terminal = spec.pty ?? null;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Starts the process; rejects with a clear error if it cannot start at all. */
  static async start(spec: ExecSpec, options: SpawnOptions): Promise<ManagedProcess> {
    const [file, ...args] = spec.argv as [string, ...string[]];
    // The child gets its own session and so process group: a timeout or kill reaches
    // everything it started.
    const child = await Spawner.get()
      .spawn({
        file,
        args,
        cwd: spec.cwd,
        env: options.env,
        uid: options.uid,
        gid: options.gid,
        stdin: Boolean(spec.stdin),
        pty: spec.pty,
      })
      .catch((err: NodeJS.ErrnoException) => {
        throw spawnError(err, file, spec.cwd);
      });
    // After a successful spawn, errors (e.g. EPIPE on stdin) must not crash the agent.
    child.stdin?.on("error", () => {});
    child.stdout.on("error", () => {});
    child.stderr.on("error", () => {});
    const proc = new ManagedProcess(child, child.pid, spec, options);
    proc.wire();
    return proc;
  }

  /** Gives the history's memory back; the process is forgotten (retired from the table). */
  forget(): void {
    this.options.historyBudget?.release(this.history);
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** Where input goes: the process's stdin pipe, or its terminal (always open). */
  get stdin(): Writable | null {
    return this.child.stdin;
  }

  /** Gives a terminal a new size; its foreground process group gets SIGWINCH. */
  resize(size: TerminalSize): void {
    if (!this.terminal)
      throw new AgentError(
        "conflict",
        `process ${this.pid} is not on a terminal; start it with pty: {cols, rows} to resize it`,
      );
    if (!this.running) throw new AgentError("conflict", `process ${this.pid} has exited`);
    this.child.resize(size);
    this.terminal = { ...size };
  }

  info(): ProcessInfo {
    return {
      pid: this.pid,
      tag: this.spec.tag ?? null,
      argv: this.spec.argv,
      background: this.spec.background,
      startedAt: this.startedAt.toISOString(),
      running: this.running,
      exit: this.exit,
      pty: this.terminal,
    };
  }

  /** Sends a signal to the whole process group. */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    // Once it has exited its pid, and so its group id, may be reused.
    if (!this.running) return;
    if (!signalGroup(this.pid, signal) || signal !== "SIGKILL") return;
    // Members that were mid-fork (a fork bomb) leave children one signal misses: repeat
    // SIGKILL until the group is empty.
    let rounds = 0;
    const again = setInterval(() => {
      if (!signalGroup(this.pid, "SIGKILL") || ++rounds >= KILL_ROUNDS) clearInterval(again);
    }, 10);
    again.unref();
  }

  /**
   * Attaches a sink: replays the history, then streams live events until exit, then ends it.
   * The sink is detached when `detach` is called (its client went away).
   */
  attach(sink: EventSink): () => void {
    for (const line of this.history.replay()) sink.write(line);
    if (!this.running) {
      sink.end();
      return () => {};
    }
    this.sinks.add(sink);
    return () => {
      this.sinks.delete(sink);
      this.waiting.delete(sink);
      this.resumeIfDrained();
    };
  }

  private wire(): void {
    const { child } = this;
    const publish = (event: ProcessEvent) => `${JSON.stringify(event)}\n`;
    this.history.start = publish({ type: "start", pid: this.pid, tag: this.spec.tag ?? null });
    const forward = (type: "stdout" | "stderr") => (chunk: Buffer) => {
      // Small slices keep each event string in V8's young generation, which is collected at
      // once; a 64 KiB pipe read would make large strings that linger until a full GC.
      for (let at = 0; at < chunk.length; at += EVENT_SLICE_BYTES) {
        const line = publish({
          type,
          data: chunk.subarray(at, at + EVENT_SLICE_BYTES).toString("base64"),
        });
        this.history.pushOutput(line);
        this.broadcast(line);
      }
    };
    const forwardStdout = forward("stdout");
    const forwardStderr = forward("stderr");
    child.stdout.on("data", forwardStdout);
    child.stderr.on("data", forwardStderr);

    if (this.spec.timeoutMs) {
      const timer = setTimeout(() => {
        this.timedOut = true;
        this.kill("SIGTERM");
        setTimeout(() => this.kill("SIGKILL"), this.options.killGraceMs).unref();
      }, this.spec.timeoutMs);
      timer.unref();
      void this.done.then(() => clearTimeout(timer));
    }

    void child.exited.then(({ code, signal }) => {
      void this.drainOutput({ stdout: forwardStdout, stderr: forwardStderr }).then(() => {
        this.exit = {
          exitCode: code,
          signal,
          timedOut: this.timedOut,
          oomKilled: endedByOom(this.pid, this.oomKillsAtStart, { code, signal }),
        };
        const line = publish({ type: "exit", ...this.exit });
        this.history.exit = line;
        this.broadcast(line);
        for (const sink of this.sinks) sink.end();
        this.sinks.clear();
        this.waiting.clear();
        this.resolveDone(this.exit);
      });
    });
  }

  /**
   * Ends the output after exit without losing a byte the process wrote. The pipes close by
   * themselves once read to the end, unless a grandchild still holds them. When output has been
   * idle for OUTPUT_GRACE_MS (or GRANDCHILD_FOLLOW_MS have passed since the exit), whatever is
   * still waiting (in the stream's buffer, or in the kernel's pipe, read here directly) is sent
   * first; only a pipe found empty with a writer left is closed from this side. A slow reader
   * only delays this: paused output is waiting, not lost.
   */
  private drainOutput(
    forward: Record<"stdout" | "stderr", (chunk: Buffer) => void>,
  ): Promise<void> {
    const { child } = this;
    const names = (["stdout", "stderr"] as const).filter((n) => !child[n].closed);
    return new Promise((resolve) => {
      let open = names.length;
      if (open === 0) return resolve();
      const exitedAt = Date.now();
      let timer: NodeJS.Timeout;
      let armed = 0;
      const finish = () => {
        clearTimeout(timer);
        this.rearmDrain = undefined;
        resolve();
      };
      /** True when everything left was read and the pipes are closed (or closing). */
      const settle = (): boolean => {
        const late = Date.now() - exitedAt >= GRANDCHILD_FOLLOW_MS;
        let found = false;
        for (const name of names) {
          const stream = child[name];
          if (stream.destroyed) continue;
          // Bytes Node has read but not yet handed on: let them flow first.
          if (stream.readableLength > 0) return false;
          for (let i = 0; i < FINAL_READS; i++) {
            const got = child.readWaiting(name, READ_BYTES);
            if (got === "empty") break;
            if (got === "eof") {
              stream.destroy();
              break;
            }
            found = true;
            forward[name](got);
            // A slow reader: wait for it, then look again.
            if (this.waiting.size > 0) return false;
            if (!late) break;
          }
        }
        // New output from a grandchild: follow it a while longer.
        if (found && !late) return false;
        for (const name of names) child[name].destroy();
        return true;
      };
      const arm = () => {
        clearTimeout(timer);
        const generation = ++armed;
        const idle = Math.min(
          OUTPUT_GRACE_MS,
          Math.max(0, GRANDCHILD_FOLLOW_MS - (Date.now() - exitedAt)),
        );
        timer = setTimeout(() => {
          // Still paused by a slow reader: the data is not lost, only waiting.
          if (this.waiting.size > 0) return arm();
          // Timers run before the loop polls for I/O: let one poll pass first, so what is
          // ready is delivered the ordinary way.
          setImmediate(() => {
            if (generation !== armed || open === 0) return;
            if (this.waiting.size > 0 || !settle()) return arm();
            finish();
          });
        }, idle);
      };
      // A pipe resumed after a slow reader may take a moment to deliver what it holds.
      this.rearmDrain = arm;
      for (const name of names) {
        const stream = child[name];
        stream.on("data", () => {
          if (Date.now() - exitedAt < GRANDCHILD_FOLLOW_MS) arm();
        });
        stream.once("close", () => {
          if (--open === 0) finish();
        });
      }
      arm();
    });
  }

  private broadcast(line: string): void {
    for (const sink of this.sinks) {
      if (!sink.write(line) && !this.waiting.has(sink)) {
        this.waiting.add(sink);
        this.child.stdout?.pause();
        this.child.stderr?.pause();
        sink.once("drain", () => {
          this.waiting.delete(sink);
          this.resumeIfDrained();
        });
      }
    }
  }

  private resumeIfDrained(): void {
    if (this.waiting.size === 0) {
      this.rearmDrain?.();
      this.child.stdout?.resume();
      this.child.stderr?.resume();
    }
  }
}

function spawnError(err: NodeJS.ErrnoException, file: string, cwd: string | undefined): AgentError {
  if (err.code === "ENOENT") {
    return cwd
      ? new AgentError(
          "command_not_found",
          `cannot run "${file}": no such command, or the cwd "${cwd}" does not exist`,
        )
      : new AgentError(
          "command_not_found",
          `cannot run "${file}": no such command in the sandbox (PATH is searched when it has no '/')`,
        );
  }
  if (err.code === "EACCES")
    return new AgentError(
      "permission_denied",
      `cannot run "${file}": permission denied (is it executable?)`,
    );
  if (err.code === "EAGAIN") {
    return new AgentError(
      "resource_exhausted",
      `cannot run "${file}": the sandbox is at its process limit; wait for processes to end or kill some`,
    );
  }
  return new AgentError("internal", `cannot run "${file}": ${err.message}`);
}
