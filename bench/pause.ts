/**
 * Pause and resume: a debian sandbox with a Python process holding 100 MiB of touched memory,
 * paused with `sandbox.pause()` and resumed with `sandbox.resume()` (which returns once the
 * agent answers), then an exec of `true`; beside a cold `Sandbox.create` of the same sandbox
 * (until the agent answers), interleaved in one run, on runc (frozen) and runsc (checkpointed
 * to disk). Also the host memory of the sandbox running and paused (the PSS of every host
 * process in its cgroup or naming its id) and the size of a runsc checkpoint on disk, and the
 * daemon's own per-step timings from its log. Needs root and a build; run with
 * `npm run bench -- pause`.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Sandbox } from "paddock";
import type { Runtime } from "./lib/daemon.js";
import { benchMain, timeCreate, type Bench } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { percentile, ratio, round1, stats, timed, type Stats } from "./lib/stats.js";

const IMAGE = "debian";
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const ROUNDS = 10;
const WARMUP = 1;
const HOLD_MIB = 100;
/** Touches every page of HOLD_MIB, says so, then sleeps with it. */
const HOLDER = [
  "import time",
  `b = bytearray(${HOLD_MIB} * 2**20)`,
  "for i in range(0, len(b), 4096): b[i] = 1",
  'print("touched", flush=True)',
  "time.sleep(10**6)",
].join("\n");
/** The issue's targets under runsc: resume until the agent answers, and a paused sandbox's memory. */
const TARGET_RESUME_MS = 300;
const TARGET_PAUSED_MIB = 5;
/** How long a checkpointed sandbox's host processes may take to go (their removal is in the background). */
const SETTLE_MS = 30_000;
const MiB = 2 ** 20;

/** p50, p90 and p95 (nearest rank) with the samples. */
type Timing = Stats & { p90: number };
const timing = (samples: number[]): Timing => ({
  ...stats(samples),
  p90: round1(percentile(samples, 90)),
});

interface HostMemory {
  /** Sums over the processes, in bytes. */
  pss: number;
  rss: number;
  processes: number;
}

/** Pids in the sandbox's cgroup (runc's container processes name no id) on cgroup v1 or v2. */
async function cgroupPids(id: string): Promise<number[]> {
  for (const dir of [`/sys/fs/cgroup/memory/paddock/${id}`, `/sys/fs/cgroup/paddock/${id}`]) {
    const text = await readFile(path.join(dir, "cgroup.procs"), "utf8").catch(() => undefined);
    if (text !== undefined) return text.split("\n").filter(Boolean).map(Number);
  }
  return [];
}

/** Host processes whose command line names the sandbox id (gVisor's sandbox and gofer, runsc). */
async function namingPids(id: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(id)) pids.push(Number(entry));
  }
  return pids;
}

/** `Key:   123 kB` from smaps_rollup, in bytes. */
function kB(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** PSS and RSS summed over the sandbox's host processes (a process gone meanwhile counts 0). */
async function hostMemory(id: string): Promise<HostMemory> {
  const pids = new Set([...(await cgroupPids(id)), ...(await namingPids(id))]);
  const memory = { pss: 0, rss: 0, processes: 0 };
  for (const pid of pids) {
    const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
    if (!text) continue;
    memory.pss += kB(text, "Pss");
    memory.rss += kB(text, "Rss");
    memory.processes++;
  }
  return memory;
}

/**
 * Waits (untimed) until a checkpointed sandbox's host processes are gone: the pause returns
 * before its stopped container is removed, and a resume would wait for that removal.
 */
async function settled(id: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while ((await namingPids(id)).length > 0 || (await cgroupPids(id)).length > 0) {
    signal.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`sandbox ${id} still has host processes`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Bytes the files under `dir` take on disk (allocated blocks), and their apparent size. */
async function diskUsage(dir: string): Promise<{ disk: number; apparent: number }> {
  const usage = { disk: 0, apparent: 0 };
  for (const entry of await readdir(dir, { recursive: true })) {
    const s = await stat(path.join(dir, entry));
    if (!s.isFile()) continue;
    usage.disk += s.blocks * 512;
    usage.apparent += s.size;
  }
  return usage;
}

/** Starts the holder in the background and waits until it has touched its memory. */
async function holdMemory(sandbox: Sandbox): Promise<void> {
  const attached = new AbortController();
  const proc = await sandbox.process.exec(["python3", "-c", HOLDER], {
    background: true,
    tag: "holder",
    signal: attached.signal,
  });
  let out = "";
  for await (const chunk of proc.stdout) {
    out += Buffer.from(chunk).toString();
    if (out.includes("touched")) break;
  }
  // Only the attachment ends; the process goes on in the background.
  attached.abort();
  if (!out.includes("touched")) throw new Error(`the holder ended early: ${out}`);
}

interface Result {
  runtime: Runtime;
  pause: Timing;
  resume: Timing;
  /** The `true` exec right after the resume. */
  exec: Timing;
  create: Timing;
  resumeOverCreateP50: number;
  pauseOverCreateP50: number;
  running: HostMemory;
  /** The median of the rounds' paused memory, by PSS. */
  paused: HostMemory;
  /** After the last resume (a restored runsc sandbox's memory is not what it was before). */
  resumed: HostMemory;
  /** runsc: the checkpoint's size, the median of the rounds. */
  checkpoint?: { disk: number; apparent: number };
  /** The daemon's per-step p50s (releaseMs, checkpointMs, restoreMs, agentMs) from its log. */
  steps: Record<string, number>;
}

type Round = { pause: number; resume: number; exec: number; create: number };

async function measure(
  bench: Bench,
  runtime: Runtime,
): Promise<Omit<Result, "steps"> & { id: string }> {
  const sandbox = await bench.create({ runtime, image: IMAGE });
  await holdMemory(sandbox);
  const running = await hostMemory(sandbox.id);
  const rounds: Round[] = [];
  const paused: HostMemory[] = [];
  const checkpoints: { disk: number; apparent: number }[] = [];
  const checkpointDir = path.join(bench.daemon.dataDir, "sandboxes", sandbox.id, "checkpoint");
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    bench.signal.throwIfAborted();
    const pauseMs = await timed(() => sandbox.pause());
    if (runtime === "runsc") {
      await settled(sandbox.id, bench.signal);
      checkpoints.push(await diskUsage(checkpointDir));
    }
    paused.push(await hostMemory(sandbox.id));
    const resumeMs = await timed(() => sandbox.resume());
    const execMs = await timed(async () => {
      const exit = await (await sandbox.process.exec("true")).wait();
      if (exit.exitCode !== 0) throw new Error(`true exited with ${JSON.stringify(exit)}`);
    });
    const createMs = await timeCreate(bench, { runtime, image: IMAGE });
    if (i >= WARMUP)
      rounds.push({ pause: pauseMs, resume: resumeMs, exec: execMs, create: createMs });
    process.stderr.write(
      `${runtime} ${i < WARMUP ? "warm-up" : `round ${i - WARMUP + 1}/${ROUNDS}`}: pause ${pauseMs.toFixed(1)} ms, resume ${resumeMs.toFixed(1)} ms, exec ${execMs.toFixed(1)} ms, cold create ${createMs.toFixed(1)} ms, paused PSS ${(paused.at(-1)!.pss / MiB).toFixed(1)} MiB\n`,
    );
  }
  // The holder lived through every round with its memory.
  const holder = await sandbox.process.get("holder");
  if (!holder.running) throw new Error(`the holder did not survive: ${JSON.stringify(holder)}`);
  const resumed = await hostMemory(sandbox.id);
  await bench.terminate(sandbox);

  const pick = (k: keyof Round) => timing(rounds.map((r) => r[k]));
  const pause = pick("pause");
  const resume = pick("resume");
  const create = pick("create");
  const median = <T>(items: T[], by: (t: T) => number) =>
    [...items].sort((a, b) => by(a) - by(b))[Math.ceil(items.length / 2) - 1]!;
  return {
    id: sandbox.id,
    runtime,
    pause,
    resume,
    exec: pick("exec"),
    create,
    resumeOverCreateP50: ratio(resume.p50, create.p50),
    pauseOverCreateP50: ratio(pause.p50, create.p50),
    running,
    paused: median(paused, (m) => m.pss),
    resumed,
    checkpoint: checkpoints.length > 0 ? median(checkpoints, (c) => c.disk) : undefined,
  };
}

/** The p50 over the measured rounds of each step the daemon logged for sandbox `id` ("sandbox paused" / "sandbox resumed"). */
function logSteps(log: string, id: string): Record<string, number> {
  const samples: Record<string, number[]> = {};
  for (const line of log.split("\n")) {
    if (!line.includes(id)) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (entry.id !== id || !["sandbox paused", "sandbox resumed"].includes(String(entry.msg)))
      continue;
    const prefix = entry.msg === "sandbox paused" ? "pause" : "resume";
    for (const [key, value] of Object.entries(entry))
      if (key.endsWith("Ms") || key === "ms")
        if (typeof value === "number")
          (samples[key === "ms" ? `${prefix}Ms` : key] ??= []).push(value);
  }
  // The warm-up round's lines come first.
  return Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [k, percentile(v.slice(WARMUP), 50)]),
  );
}

// The daemon's info lines carry pause's and resume's per-step timings: kept in a file to read.
const logFile =
  process.env.PADDOCK_BENCH_DAEMON_LOG ??
  path.join(mkdtempSync(path.join(tmpdir(), "paddock-bench-pause-")), "daemon.log");
process.env.PADDOCK_BENCH_DAEMON_LOG = logFile;
process.env.PADDOCK_LOG_LEVEL ??= "info";

benchMain(
  [IMAGE],
  async (bench) => {
    const measured = [];
    for (const runtime of RUNTIMES) measured.push(await measure(bench, runtime));
    return measured;
  },
  async (measured) => {
    const log = await readFile(logFile, "utf8").catch(() => "");
    const results: Result[] = measured.map(({ id, ...r }) => ({ ...r, steps: logSteps(log, id) }));
    const ms = (n: number) => `${n.toFixed(1)} ms`;
    const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    const isRunsc = (r: Result) => r.runtime === "runsc";
    printTable(
      [
        [
          "runtime",
          "pause p50",
          "p90",
          "resume p50",
          "p90",
          "+exec true p50",
          "cold create p50",
          "p90",
          "resume/create",
          "pause/create",
          "target resume",
          "",
        ],
        ...results.map((r) => [
          r.runtime,
          ms(r.pause.p50),
          ms(r.pause.p90),
          ms(r.resume.p50),
          ms(r.resume.p90),
          ms(r.exec.p50),
          ms(r.create.p50),
          ms(r.create.p90),
          `${r.resumeOverCreateP50.toFixed(2)}x`,
          `${r.pauseOverCreateP50.toFixed(2)}x`,
          isRunsc(r) ? `<= ${TARGET_RESUME_MS} ms` : "",
          isRunsc(r) ? passMiss(r.resume.p50 <= TARGET_RESUME_MS) : "",
        ]),
      ],
      [
        `debian with a Python process holding ${HOLD_MIB} MiB of touched memory; runc pauses by freezing, runsc by a checkpoint to disk; ${ROUNDS} rounds after ${WARMUP} warm-up`,
        "pause = sandbox.pause(); resume = sandbox.resume() until the agent answers; +exec true = the exec right after; cold create = Sandbox.create of the same sandbox until the agent answers",
      ],
    );
    console.log();
    printTable(
      [
        [
          "runtime",
          "running PSS",
          "paused PSS",
          "paused RSS",
          "resumed PSS",
          "processes",
          "checkpoint on disk",
          "target paused",
          "",
          "daemon steps p50",
        ],
        ...results.map((r) => [
          r.runtime,
          mib(r.running.pss),
          mib(r.paused.pss),
          mib(r.paused.rss),
          mib(r.resumed.pss),
          `${r.running.processes} -> ${r.paused.processes}`,
          r.checkpoint ? mib(r.checkpoint.disk) : "-",
          isRunsc(r) ? `< ${TARGET_PAUSED_MIB} MiB` : "",
          isRunsc(r) ? passMiss(r.paused.pss < TARGET_PAUSED_MIB * MiB) : "",
          Object.entries(r.steps)
            .map(([k, v]) => `${k.replace(/Ms$/, "")} ${v}`)
            .join(", "),
        ]),
      ],
      [
        "memory = PSS summed over the host processes in the sandbox's cgroup or naming its id (the daemon not counted), running before the first pause, paused in each round (median), resumed after the last round; the paused runsc sandbox is measured once its stopped container is removed",
        `daemon steps = the daemon's log (ms); its log: ${logFile}`,
      ],
    );
    await writeResults("pause", {
      image: IMAGE,
      holdMiB: HOLD_MIB,
      rounds: ROUNDS,
      warmup: WARMUP,
      targets: { resumeMs: TARGET_RESUME_MS, pausedMiB: TARGET_PAUSED_MIB },
      results,
    });
  },
);
