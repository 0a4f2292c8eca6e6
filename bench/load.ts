/**
 * Load: 20 busybox sandboxes, 10 concurrent clients (each with its own SDK objects from
 * Sandbox.connect) mixing exec, upload, download and stat on random sandboxes for LOAD_SECONDS
 * (default 60), bounded by MAX_OPS as well; loopback only. Reports ops/s, p50/p99 latency and
 * errors per operation, and the daemon's RSS sampled every 250 ms. Runtime from
 * PADDOCK_LOAD_RUNTIME: runsc (default), runc, or mixed (alternating). Needs root and a build;
 * run with `npm run bench -- load`.
 */
import { randomBytes, randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Sandbox } from "paddock";
import type { Runtime } from "./lib/daemon.js";
import { benchMain, type Bench } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { percentile, round1 } from "./lib/stats.js";

const IMAGE = "busybox";
const SANDBOXES = 20;
const CLIENTS = 10;
const MEMORY_MIB = 256;
const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
/** A safety cap on the whole run, whatever the time bound. */
const MAX_OPS = 200_000;
const UPLOAD_BYTES = 16 << 10;
/**
 * Each client writes /tmp/load-<client>-<n> with n cycling through this many names, so what the
 * clients keep (on the host, to verify downloads) and what the sandboxes hold stays bounded.
 */
const FILE_SLOTS = 8;
const RSS_INTERVAL_MS = 250;
const SHOWN_ERRORS = 5;
const KEPT_ERRORS = 50;

const OPS = ["exec", "upload", "download", "stat"] as const;
type Op = (typeof OPS)[number];

function runtimes(): Runtime[] {
  const mode = process.env.PADDOCK_LOAD_RUNTIME ?? "runsc";
  if (mode === "mixed")
    return Array.from({ length: SANDBOXES }, (_, i) => (i % 2 === 0 ? "runc" : "runsc"));
  if (mode !== "runc" && mode !== "runsc")
    throw new Error(`PADDOCK_LOAD_RUNTIME must be runc, runsc or mixed, not ${mode}`);
  return Array(SANDBOXES).fill(mode) as Runtime[];
}

/** What all clients share: the bounds, latencies and errors. */
interface Tally {
  deadline: number;
  started: number;
  latencies: Record<Op, number[]>;
  errors: Record<Op, number>;
  messages: string[];
}

/** The daemon's resident set in MiB from /proc/<pid>/status (VmRSS, or VmHWM for its peak). */
async function memoryMiB(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1];
  if (kib === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return round1(Number(kib) / 1024);
}

/** Samples the daemon's RSS every RSS_INTERVAL_MS until stopped; returns the samples. */
function sampleRss(pid: number): { stop(): Promise<number[]> } {
  const samples: number[] = [];
  let pending: Promise<void> = Promise.resolve();
  const sample = () => {
    pending = memoryMiB(pid, "VmRSS").then(
      (mib) => void samples.push(mib),
      () => {},
    );
  };
  sample();
  const timer = setInterval(sample, RSS_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      sample();
      await pending;
      return samples;
    },
  };
}

/** One operation on `sandbox`; rejects on a failure or a wrong answer. */
async function operate(
  op: Op,
  sandbox: Sandbox,
  file: string,
  written: Map<string, Buffer>,
): Promise<void> {
  switch (op) {
    case "exec": {
      const out = await (await sandbox.process.exec("echo", "x")).output();
      if (out.exitCode !== 0 || out.stdout !== "x\n")
        throw new Error(`echo x: exit ${out.exitCode}, stdout ${JSON.stringify(out.stdout)}`);
      return;
    }
    case "upload": {
      const content = randomBytes(UPLOAD_BYTES);
      await sandbox.fs.writeFile(file, content);
      written.set(`${sandbox.id}:${file}`, content);
      return;
    }
    case "download": {
      const got = await sandbox.fs.readFile(file, { format: "bytes" });
      const want = written.get(`${sandbox.id}:${file}`)!;
      if (!want.equals(got))
        throw new Error(`${file}: read ${got.length} bytes that differ from the upload`);
      return;
    }
    case "stat": {
      const entry = await sandbox.fs.statFile(file);
      if (entry.type !== "file" || entry.size !== UPLOAD_BYTES)
        throw new Error(`${file}: stat says ${entry.type} of ${entry.size} bytes`);
      return;
    }
  }
}

/**
 * One client: its own Sandbox objects, then random operations on random sandboxes until the
 * deadline or the cap. Download and stat go to one of the files this client uploaded to that
 * sandbox; before it has any there, the operation is an upload.
 */
async function client(bench: Bench, id: number, sandboxes: Sandbox[], tally: Tally): Promise<void> {
  const written = new Map<string, Buffer>();
  const files = new Map<string, string[]>(sandboxes.map((s) => [s.id, []]));
  let uploads = 0;
  const total = () => OPS.reduce((n, op) => n + tally.latencies[op].length + tally.errors[op], 0);
  while (performance.now() < tally.deadline && !bench.signal.aborted && total() < MAX_OPS) {
    const sandbox = sandboxes[randomInt(sandboxes.length)]!;
    const mine = files.get(sandbox.id)!;
    let op = OPS[randomInt(OPS.length)]!;
    if (mine.length === 0) op = "upload";
    const file =
      op === "upload" ? `/tmp/load-${id}-${uploads++ % FILE_SLOTS}` : mine[randomInt(mine.length)]!;
    const start = performance.now();
    try {
      await operate(op, sandbox, file, written);
      tally.latencies[op].push(performance.now() - start);
      if (op === "upload" && !mine.includes(file)) mine.push(file);
    } catch (err) {
      tally.errors[op]++;
      // A failed upload may or may not have replaced the file: it is not read or stat'ed again.
      if (op === "upload" && mine.includes(file)) mine.splice(mine.indexOf(file), 1);
      if (tally.messages.length < KEPT_ERRORS)
        tally.messages.push(
          `${op} ${sandbox.id} ${file} at ${((start - tally.started) / 1000).toFixed(1)} s: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
        );
    }
  }
}

interface OpResult {
  op: Op | "total";
  count: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

interface Result {
  runtimes: Runtime[];
  seconds: number;
  ops: OpResult[];
  errorMessages: string[];
  rss: {
    /** Before the sandboxes were created (images built). */
    idleMiB: number;
    /** When the load began, with all sandboxes up. */
    startMiB: number;
    /** Highest 250 ms sample during the load. */
    peakMiB: number;
    endMiB: number;
    /** The kernel's high-water mark over the daemon's life (VmHWM), read after the load. */
    hwmMiB: number;
    samplesMiB: number[];
  };
}

function summarize(op: OpResult["op"], samples: number[], errors: number, seconds: number) {
  return {
    op,
    count: samples.length,
    opsPerSecond: round1(samples.length / seconds),
    p50Ms: samples.length ? round1(percentile(samples, 50)) : Number.NaN,
    p99Ms: samples.length ? round1(percentile(samples, 99)) : Number.NaN,
    errors,
  };
}

benchMain(
  [IMAGE],
  async (bench): Promise<Result> => {
    const kinds = runtimes();
    const pid = bench.daemon.pid;
    const idleMiB = await memoryMiB(pid, "VmRSS");
    const sandboxes: Sandbox[] = [];
    try {
      for (const [i, runtime] of kinds.entries()) {
        bench.signal.throwIfAborted();
        sandboxes.push(
          await bench.create({
            runtime,
            image: IMAGE,
            memoryMiB: MEMORY_MIB,
            // Outlives the load and its set-up: the reaper must not end a sandbox mid-run.
            timeoutSeconds: LOAD_SECONDS + 600,
            labels: { bench: "load" },
          }),
        );
        process.stderr.write(`sandbox ${i + 1}/${SANDBOXES} (${runtime}) up\n`);
      }
      // Each client its own SDK objects (and HTTP client), as separate programs would have.
      const clients = await Promise.all(
        Array.from({ length: CLIENTS }, () =>
          Promise.all(sandboxes.map((s) => Sandbox.connect(s.id, bench.client))),
        ),
      );
      const startMiB = await memoryMiB(pid, "VmRSS");
      const rss = sampleRss(pid);
      const started = performance.now();
      const tally: Tally = {
        started,
        deadline: started + LOAD_SECONDS * 1000,
        latencies: { exec: [], upload: [], download: [], stat: [] },
        errors: { exec: 0, upload: 0, download: 0, stat: 0 },
        messages: [],
      };
      const progress = setInterval(() => {
        const done = OPS.reduce((n, op) => n + tally.latencies[op].length, 0);
        const errors = OPS.reduce((n, op) => n + tally.errors[op], 0);
        const secs = (performance.now() - started) / 1000;
        process.stderr.write(
          `${secs.toFixed(0)} s: ${done} ops (${(done / secs).toFixed(0)}/s), ${errors} errors\n`,
        );
      }, 10_000);
      let samplesMiB: number[];
      let seconds: number;
      try {
        // Every client runs to the deadline even if another one throws (none should: errors are counted).
        await Promise.all(clients.map((own, c) => client(bench, c, own, tally)));
        seconds = (performance.now() - started) / 1000;
      } finally {
        clearInterval(progress);
        samplesMiB = await rss.stop();
      }
      bench.signal.throwIfAborted();
      const hwmMiB = await memoryMiB(pid, "VmHWM");
      const all = OPS.flatMap((op) => tally.latencies[op]);
      const errors = OPS.reduce((n, op) => n + tally.errors[op], 0);
      return {
        runtimes: kinds,
        seconds: round1(seconds),
        ops: [
          ...OPS.map((op) => summarize(op, tally.latencies[op], tally.errors[op], seconds)),
          summarize("total", all, errors, seconds),
        ],
        errorMessages: tally.messages,
        rss: {
          idleMiB,
          startMiB,
          peakMiB: Math.max(...samplesMiB),
          endMiB: samplesMiB.at(-1)!,
          hwmMiB,
          samplesMiB,
        },
      };
    } finally {
      for (const sandbox of sandboxes) await bench.terminate(sandbox).catch(() => {});
    }
  },
  async (result) => {
    const total = result.ops.find((o) => o.op === "total")!;
    const ms = (n: number) => (Number.isNaN(n) ? "-" : `${n.toFixed(1)} ms`);
    const mode = process.env.PADDOCK_LOAD_RUNTIME ?? "runsc";
    printTable(
      [
        ["op", "count", "ops/s", "p50", "p99", "errors"],
        ...result.ops.map((o) => [
          o.op,
          String(o.count),
          o.opsPerSecond.toFixed(1),
          ms(o.p50Ms),
          ms(o.p99Ms),
          String(o.errors),
        ]),
      ],
      [
        `${SANDBOXES} ${IMAGE} sandboxes (${mode}, memoryMiB ${MEMORY_MIB}), ${CLIENTS} clients for ${result.seconds.toFixed(1)} s (bound ${LOAD_SECONDS} s, ${MAX_OPS} ops); count and latency are of successful ops`,
        `exec = exec("echo", "x").output(); upload = writeFile of ${UPLOAD_BYTES / 1024} KiB random bytes; download = readFile of the client's own upload, compared; stat = statFile of it`,
        `errors: ${total.errors} (target 0) ${passMiss(total.errors === 0)}`,
        `daemon RSS: ${result.rss.idleMiB} MiB idle, ${result.rss.startMiB} MiB at start with ${SANDBOXES} sandboxes, peak ${result.rss.peakMiB} MiB (${RSS_INTERVAL_MS} ms samples), ${result.rss.endMiB} MiB at end; VmHWM ${result.rss.hwmMiB} MiB`,
      ],
    );
    if (result.errorMessages.length > 0) {
      console.log(`first ${Math.min(SHOWN_ERRORS, result.errorMessages.length)} errors:`);
      for (const message of result.errorMessages.slice(0, SHOWN_ERRORS))
        console.log(`  ${message}`);
    }
    await writeResults("load", {
      image: IMAGE,
      runtime: mode,
      sandboxes: SANDBOXES,
      clients: CLIENTS,
      memoryMiB: MEMORY_MIB,
      loadSeconds: LOAD_SECONDS,
      maxOps: MAX_OPS,
      uploadBytes: UPLOAD_BYTES,
      ...result,
    });
  },
);
