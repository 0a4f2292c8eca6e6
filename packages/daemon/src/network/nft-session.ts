import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { CommandError } from "../exec.js";

/** After this many transactions the process is started again: nft -i keeps every line in memory. */
const TRANSACTIONS_PER_PROCESS = 1000;
const MARKER_TABLE = "inet paddock_sync_";

/**
 * One long-lived `nft -i` that applies the daemon's nftables scripts: a spawn of nft costs 10
 * to 30 ms of CPU (more on a busy host, and in the middle of a create), a line here about 3 ms.
 *
 * The protocol of nft's interactive mode: each input line is one transaction (all of its
 * commands, joined by `;`, or none of them), and nft says nothing on success and prints its
 * errors on stderr. After each script goes a marker line, `list table inet paddock_sync_N`, a
 * table that never exists: nft prints its error after anything the script printed, so what
 * stderr holds before the marker's error is the script's, and nothing means applied. An empty
 * line would end nft -i: a script is never empty. Scripts run one at a time; a process that
 * dies, or does not answer in time, fails its script and is started again for the next one.
 */
export class NftSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private stderr = "";
  private sent = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private pending:
    { marker: string; done: (err: Error | undefined, output?: string) => void } | undefined;

  /** `argv` runs `nft -i` (in the router namespace: `nsenter --net=... nft -i`). */
  constructor(
    private readonly argv: readonly string[],
    private readonly timeoutMs = 20_000,
  ) {}

  /** Applies `script` as one transaction; throws a CommandError with nft's output if refused. */
  apply(script: readonly string[]): Promise<void> {
    const job = this.queue.then(() => this.send(script));
    this.queue = job.catch(() => {});
    return job;
  }

  /** Ends the process (nft -i ends at the end of its input); a script under way fails. */
  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
    this.fail(new CommandError(this.argv.join(" "), null, "closed"));
  }

  private send(script: readonly string[]): Promise<void> {
    if (script.length === 0 || script.some((l) => l.includes("\n") || !l.trim()))
      throw new Error("an nft script for nft -i is non-empty lines");
    if (this.sent >= TRANSACTIONS_PER_PROCESS) this.close();
    const child = this.child ?? this.start();
    const marker = `${MARKER_TABLE}${++this.sent}`;
    const command = script.join("; ");
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // Let go of it first: the next script gets a new process.
        if (this.child === child) this.child = undefined;
        child.kill("SIGKILL");
        this.fail(new CommandError(`nft -i`, null, `no answer in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending = {
        marker,
        done: (err, output = "") => {
          clearTimeout(timer);
          this.pending = undefined;
          if (err) reject(err);
          else if (output.trim()) reject(new CommandError(`nft -i: ${command}`, 1, output));
          else resolve();
        },
      };
      child.stdin.write(`${command}\nlist table ${marker}\n`);
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    this.stderr = "";
    this.sent = 0;
    // No history file: nft -i would write every line to $HOME/.nft.history as it ends.
    const child = spawn(this.argv[0]!, this.argv.slice(1), {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, HOME: "/nonexistent" },
    });
    child.stdout.resume(); // nothing is listed, but nothing may block it either
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (this.child !== child) return;
      this.stderr += d;
      this.answer();
    });
    child.stdin.on("error", () => {}); // the exit says why
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.fail(new CommandError(this.argv.join(" "), null, why));
    };
    child.on("error", (e) => gone(e.message));
    child.on("exit", (code, signal) => gone(`${this.stderr}exited (${code ?? signal})`));
    this.child = child;
    return child;
  }

  /** Settles the pending script once its marker's error is all in. */
  private answer(): void {
    const pending = this.pending;
    if (!pending) return;
    const split = splitAtMarker(this.stderr, pending.marker);
    if (!split) return;
    this.stderr = split.rest;
    pending.done(undefined, split.before);
  }

  private fail(err: Error): void {
    this.pending?.done(err);
  }
}

/**
 * Splits nft's stderr at the error it printed for `list table <marker>`: the error line, the
 * command, and the line of carets under it. `before` is what came first (the script's own
 * output); undefined until the marker's lines are all there.
 */
export function splitAtMarker(
  stderr: string,
  marker: string,
): { before: string; rest: string } | undefined {
  const line = `list table ${marker}\n`;
  const at = stderr.startsWith(line) ? 0 : stderr.indexOf(`\n${line}`) + 1;
  if (at === 0 && !stderr.startsWith(line)) return undefined;
  const carets = stderr.indexOf("\n", at + line.length);
  if (carets < 0) return undefined;
  // The marker's error line ("Error: No such file or directory", maybe with more) before it.
  const errorLine = stderr.lastIndexOf("\n", at - 2) + 1;
  const before = stderr.slice(0, stderr.startsWith("Error:", errorLine) ? errorLine : at);
  return { before, rest: stderr.slice(carets + 1) };
}
