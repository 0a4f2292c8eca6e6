import { spawn as nodeSpawn, type ChildProcess } from "node:child_process";
import { constants as fsConstants, existsSync, openSync, readSync } from "node:fs";
import { Socket } from "node:net";
import { constants as osConstants } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Readable, Writable } from "node:stream";
import type { TerminalSize } from "@paddock/protocol";

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A started process as ManagedProcess sees it. */
export interface SpawnedChild {
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /**
   * Reads what is waiting in stdout's or stderr's pipe right now, without waiting: the bytes,
   * "empty" (the pipe is empty, and a writer still holds it), or "eof" (no writer is left).
   */
  readWaiting(which: "stdout" | "stderr", maxBytes: number): Buffer | "empty" | "eof";
  /** Settles once, when the process has ended (its exit may be reported before anyone asks). */
  readonly exited: Promise<ChildExit>;
  /** A terminal's new size (its foreground process group gets SIGWINCH). */
  resize(size: TerminalSize): void;
}

export interface SpawnRequest {
  file: string;
  args: string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  stdin: boolean;
  /**
   * Run on a new pseudo-terminal of this size: stdin (always open), stdout and stderr are the
   * terminal; everything it prints comes as stdout, and stderr ends at once.
   */
  pty?: TerminalSize;
}

/** A start that failed, with the errno name (ENOENT, EACCES, EAGAIN…) like Node's spawn errors. */
export class SpawnError extends Error {
  constructor(readonly code: string) {
    super(`spawn failed: ${code}`);
  }
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);
/** errno numbers to names; where two names share a number (EAGAIN, EWOULDBLOCK) the first wins. */
const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno)
    .reverse()
    .map(([name, n]) => [n, name]),
);

/**
 * Built beside the agent's bundle (scripts/post-build.mjs). Unit tests run the agent from its
 * sources, so they name the built one with this variable.
 */
const helperPath = () =>
  process.env.PADDOCK_SPAWNER_HELPER ??
  fileURLToPath(new URL("./paddock-spawner", import.meta.url));

interface Pending {
  resolve(child: SpawnedChild): void;
  reject(err: Error): void;
  stdin: boolean;
}

/**
 * Starts processes through paddock-spawner, a small static helper beside the agent that
 * vforks: under gVisor that is ~5 ms where forking node is ~50 ms. The helper hands each
 * process's pipes over through /proc/<helper>/fd, reports exits, and is started once. A
 * terminal's master stays with the helper, which relays it to ordinary pipes (native/spawner.c).
 */
export class Spawner {
  private readonly pending = new Map<string, Pending>();
  private readonly children = new Map<number, HelperChild>();
  private nextId = 1;

  private constructor(private readonly helper: ChildProcess) {
    const lines = createInterface({ input: helper.stdout! });
    lines.on("line", (line) => this.onLine(line));
    helper.on("exit", (code, signal) => this.onHelperExit(code ?? signal));
    helper.stdin!.on("error", () => {});
  }

  private static current: Spawner | undefined;

  /** The helper's pid while it runs (none before the first process). */
  static helperPids(): number[] {
    const pid = Spawner.current?.alive ? Spawner.current.helper.pid : undefined;
    return pid === undefined ? [] : [pid];
  }

  /** The running helper, started (again, if the last one died) on demand. */
  static get(): Spawner {
    if (!Spawner.current?.alive) {
      const path = helperPath();
      if (!existsSync(path)) throw new Error(`the process helper ${path} is missing`);
      const helper = nodeSpawn(path, [], { stdio: ["pipe", "pipe", "inherit"] });
      helper.on("error", () => {});
      Spawner.current = new Spawner(helper);
    }
    return Spawner.current;
  }

  private alive = true;

  spawn(req: SpawnRequest): Promise<SpawnedChild> {
    if (!this.alive) return Promise.reject(new Error("the process helper has exited"));
    const id = String(this.nextId++);
    const env = Object.entries(req.env)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${v}`);
    const stdin = req.stdin || req.pty !== undefined;
    const fields = [
      "spawn",
      id,
      stdin ? "1" : "0",
      req.pty ? `${req.pty.cols}x${req.pty.rows}` : "",
      req.cwd ?? "",
      req.uid === undefined ? "" : String(req.uid),
      req.gid === undefined ? "" : String(req.gid),
      String(1 + req.args.length),
      req.file,
      ...req.args,
      String(env.length),
      ...env,
    ];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, stdin });
      this.send(fields);
    });
  }

  /** @internal a terminal's new size, for HelperChild */
  resize(pid: number, { cols, rows }: TerminalSize): void {
    if (this.alive) this.send(["resize", String(pid), String(cols), String(rows)]);
  }

  private send(fields: string[]): void {
    const body = Buffer.from(fields.map((f) => `${f}\0`).join(""));
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    this.helper.stdin!.write(Buffer.concat([head, body]));
  }

  private onLine(line: string): void {
    const [kind, ...rest] = line.split(" ");
    const n = rest.map(Number);
    if (kind === "ok") {
      const [id, pid, stdinFd, stdoutFd, stderrFd] = [rest[0]!, n[1]!, n[2]!, n[3]!, n[4]!];
      const pending = this.pending.get(id);
      this.pending.delete(id);
      if (!pending) return this.send(["close", id]);
      try {
        const child = new HelperChild(
          this,
          pid,
          pending.stdin ? this.openEnd(stdinFd, "write") : null,
          this.openEnd(stdoutFd, "read"),
          this.openEnd(stderrFd, "read"),
        );
        this.children.set(pid, child);
        pending.resolve(child);
      } catch (err) {
        pending.reject(err as Error);
      } finally {
        this.send(["close", id]);
      }
    } else if (kind === "err") {
      const pending = this.pending.get(rest[0]!);
      this.pending.delete(rest[0]!);
      pending?.reject(new SpawnError(ERRNO_NAMES.get(n[1]!) ?? `errno ${n[1]}`));
    } else if (kind === "exit") {
      const [pid, code, signal] = [n[0]!, n[1]!, n[2]!];
      const child = this.children.get(pid);
      this.children.delete(pid);
      child?.end({
        code: signal ? null : code,
        signal: signal ? (SIGNAL_NAMES.get(signal) ?? null) : null,
      });
    }
  }

  /** Opens our own end of a pipe the helper holds; non-blocking, as libuv wants it. */
  private openEnd(fd: number, direction: "read" | "write"): PipeEnd {
    const flags =
      (direction === "read" ? fsConstants.O_RDONLY : fsConstants.O_WRONLY) | fsConstants.O_NONBLOCK;
    const own = openSync(`/proc/${this.helper.pid}/fd/${fd}`, flags);
    const socket = new Socket({
      fd: own,
      readable: direction === "read",
      writable: direction === "write",
    });
    return Object.assign(socket, { fd: own });
  }

  private onHelperExit(how: number | string | null): void {
    this.alive = false;
    const err = new Error(`the process helper exited (${how})`);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    // Its children live on under init, but their exit status is lost with it.
    for (const child of this.children.values()) child.end({ code: null, signal: null });
    this.children.clear();
  }
}

/** A pipe end as a socket, with the descriptor it reads (libuv reads the same one). */
type PipeEnd = Socket & { fd: number };

class HelperChild implements SpawnedChild {
  readonly exited: Promise<ChildExit>;
  end!: (exit: ChildExit) => void;

  constructor(
    private readonly spawner: Spawner,
    readonly pid: number,
    readonly stdin: Socket | null,
    readonly stdout: PipeEnd,
    readonly stderr: PipeEnd,
  ) {
    this.exited = new Promise((resolve) => (this.end = resolve));
  }

  resize(size: TerminalSize): void {
    this.spawner.resize(this.pid, size);
  }

  readWaiting(which: "stdout" | "stderr", maxBytes: number): Buffer | "empty" | "eof" {
    const end = this[which];
    if (end.destroyed) return "eof";
    const buf = Buffer.allocUnsafe(maxBytes);
    try {
      // The descriptor is non-blocking: EAGAIN means empty. libuv reads it only in its poll
      // phase, on this same thread, so nothing read here is read twice or out of order.
      const got = readSync(end.fd, buf, 0, maxBytes, null);
      return got === 0 ? "eof" : buf.subarray(0, got);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") return "empty";
      return "eof";
    }
  }
}
