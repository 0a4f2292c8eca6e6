import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ProcessEventSchema, type ExecRequest, type ProcessExit } from "@paddock/protocol";
import { ExecRequestSchema } from "@paddock/protocol";
import type { EventSink, ManagedProcess } from "../src/processes/managed-process.js";
import { ProcessTable } from "../src/processes/process-table.js";

/** The agent runs from its sources here: point it at the helper `npm run build` made. */
export function useBuiltSpawner(): void {
  const built = fileURLToPath(new URL("../dist/bundle/paddock-spawner", import.meta.url));
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
  process.env.PADDOCK_SPAWNER_HELPER = built;
}

export function newTable(): ProcessTable {
  return new ProcessTable({
    baseEnv: { PATH: process.env.PATH, HOME: "/root" },
    historyBytes: 4 * 1024 * 1024,
    totalHistoryBytes: 16 * 1024 * 1024,
    killGraceMs: 500,
    keepEnded: 16,
    maxRunning: 64,
  });
}

export function start(table: ProcessTable, request: ExecRequest): Promise<ManagedProcess> {
  return table.start(ExecRequestSchema.parse({ background: true, ...request }));
}

/** Collects the event lines of a process: its output as text, and its exit. */
export class EventCollector {
  readonly types: string[] = [];
  stdout = "";
  stderr = "";
  exit: ProcessExit | undefined;
  ended = false;
  private buffered = "";
  private readonly waiters = new Set<() => void>();

  /** Parses event lines from a byte stream (an upgraded connection). */
  feed(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf("\n")) !== -1) {
      this.line(this.buffered.slice(0, nl));
      this.buffered = this.buffered.slice(nl + 1);
    }
  }

  line(text: string): void {
    const event = ProcessEventSchema.parse(JSON.parse(text));
    this.types.push(event.type);
    if (event.type === "stdout") this.stdout += Buffer.from(event.data, "base64").toString();
    if (event.type === "stderr") this.stderr += Buffer.from(event.data, "base64").toString();
    if (event.type === "exit") this.exit = event;
    this.notify();
  }

  finish(): void {
    this.ended = true;
    this.notify();
  }

  /** As an EventSink of ManagedProcess.attach. */
  sink(): EventSink {
    return {
      write: (line) => (this.line(line.trimEnd()), true),
      once: () => undefined,
      end: () => this.finish(),
    };
  }

  /** Resolves once `test` holds, or fails after `timeoutMs`. */
  until(test: (c: this) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (test(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(`timed out waiting for ${what}; output so far: ${JSON.stringify(this.stdout)}`),
        );
      }, timeoutMs);
      const check = () => {
        if (!test(this)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  output(pattern: RegExp | string): Promise<void> {
    const matches = (c: this) =>
      typeof pattern === "string" ? c.stdout.includes(pattern) : pattern.test(c.stdout);
    return this.until(matches, `output ${String(pattern)}`);
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Runs a process to its end and collects everything it printed. */
export async function run(table: ProcessTable, request: ExecRequest): Promise<EventCollector> {
  const proc = await start(table, request);
  const events = new EventCollector();
  proc.attach(events.sink());
  await events.until((c) => c.ended, "the exit");
  return events;
}
