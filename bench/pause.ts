/**
 * Pause and resume: a debian sandbox with a Python process holding 100 MiB of touched memory,
 * paused with `sandbox.pause()` and resumed with `sandbox.resume()` (which returns once the
 * agent answers), then an exec of `true`; beside a cold `Sandbox.create` of the same sandbox
 * (until the agent answers), interleaved in one run, on runc (frozen) and runsc (checkpointed
 * to disk). In the same rounds, `sandbox.snapshot()` and a `Sandbox.create` from that snapshot
 * (until the agent answers), then an exec of `true` in the copy, which is terminated and its
 * snapshot deleted within the round (runsc: memory, processes and files; runc: files only).
 * Also the host memory of the sandbox running and paused (the PSS of every host process in its
 * cgroup or naming its id), the size of a runsc checkpoint and of a snapshot, and the daemon's
 * own per-step timings from its log. Needs root and a build; run with `npm run bench -- pause`.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Snapshots, type Sandbox, type SnapshotInfo } from "paddock";
import type { Runtime } from "./lib/daemon.js";
import { benchMain, timeCreate, type Bench } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { percentile, ratio, round1, stats, timed, type Stats } from "./lib/stats.js";

const IMAGE = "debian";
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const ROUNDS = 10;
const WARMUP = 1;
/** Rounds that also snapshot and start a copy (after the warm-up, which does too): the first ones. */
const SNAPSHOT_ROUNDS = 10;
const HOLD_MIB = 100;
/** Touches every page of HOLD_MIB, says so, then sleeps with it. */
const HOLDER = [
  "import time",
  `b = bytearray(${HOLD_MIB} * 2**20)`,
  "for i in range(0, len(b), 4096): b[i] = 1",
  'print("touched", flush=True)',
  "time.sleep(10**6)",
].join("\n");
/** The targets under runsc: resume and a create from a snapshot until the agent answers, and a paused sandbox's memory. */
const TARGET_RESUME_MS = 300;
const TARGET_FORK_MS = 400;
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

/** An exec of `true`, which must exit 0. */
async function execTrue(sandbox: Sandbox): Promise<void> {
  const exit = await (await sandbox.process.exec("true")).wait();
  if (exit.exitCode !== 0) throw new Error(`true exited with ${JSON.stringify(exit)}`);
}

/** Throws unless the holder is still running in `sandbox`. */
async function checkHolder(sandbox: Sandbox, what: string): Promise<void> {
  const holder = await sandbox.process.get("holder");
  if (!holder.running)
    throw new Error(`the holder did not survive ${what}: ${JSON.stringify(holder)}`);
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

/** One snapshot round: the snapshot, the copy started from it and the `true` exec in the copy. */
interface SnapshotRound {
  snapshot: number;
  fork: number;
  exec: number;
  snapshotId: string;
  forkId: string;
  kind: SnapshotInfo["kind"];
  /** The API's sizeBytes (the files' sizes), and the blocks they take on disk. */
  size: { apparent: number; disk: number };
}

/**
 * Snapshots `sandbox`, starts a copy from the snapshot (until its agent answers) and runs `true`
 * in it, then terminates the copy and deletes the snapshot, untimed, so neither piles up on disk.
 */
async function snapshotRound(bench: Bench, sandbox: Sandbox): Promise<SnapshotRound> {
  let info!: SnapshotInfo;
  const snapshotMs = await timed(async () => (info = await sandbox.snapshot()));
  try {
    const dir = path.join(bench.daemon.dataDir, "snapshots", info.id);
    const size = { apparent: info.sizeBytes, disk: (await diskUsage(dir)).disk };
    let fork!: Sandbox;
    const forkMs = await timed(async () => (fork = await bench.create({ snapshot: info.id })));
    try {
      const execMs = await timed(() => execTrue(fork));
      // A memory snapshot's processes go on in the copy; a files snapshot has none.
      if (info.kind === "memory") await checkHolder(fork, "the start from a snapshot");
      const ids = { snapshotId: info.id, forkId: fork.id };
      return { snapshot: snapshotMs, fork: forkMs, exec: execMs, ...ids, kind: info.kind, size };
    } finally {
      await bench.terminate(fork);
    }
  } finally {
    await new Snapshots(bench.client).delete(info.id);
  }
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
  snapshots: {
    kind: SnapshotInfo["kind"];
    snapshot: Timing;
    /** A create from the snapshot until the agent answers. */
    fork: Timing;
    /** The `true` exec in the copy right after. */
    exec: Timing;
    forkOverCreateP50: number;
    snapshotOverCreateP50: number;
    /** The median of the rounds, by disk. */
    size: { apparent: number; disk: number };
    /** The daemon's per-step p50s (snapshotMs; the copy's rootfsMs, startMs, agentMs) from its log. */
    steps: Record<string, number>;
  };
}

type Round = { pause: number; resume: number; exec: number; create: number };

/** What measure finds; the daemon's steps are read from its log once it stopped. */
type Measured = Omit<Result, "steps" | "snapshots"> & {
  id: string;
  snapshots: Omit<Result["snapshots"], "steps"> & { snapshotIds: string[]; forkIds: string[] };
};

/** p50, p90 and p95 of one field over the rounds. */
const pick = <R>(rounds: R[], key: { [K in keyof R]: R[K] extends number ? K : never }[keyof R]) =>
  timing(rounds.map((r) => r[key] as number));

/** The middle item by `by` (the lower one of an even count). */
const median = <T>(items: T[], by: (t: T) => number) =>
  [...items].sort((a, b) => by(a) - by(b))[Math.ceil(items.length / 2) - 1]!;

async function measure(bench: Bench, runtime: Runtime): Promise<Measured> {
  const sandbox = await bench.create({ runtime, image: IMAGE });
  await holdMemory(sandbox);
  const running = await hostMemory(sandbox.id);
  const rounds: Round[] = [];
  const snapshotRounds: SnapshotRound[] = [];
  const paused: HostMemory[] = [];
  const checkpoints: { disk: number; apparent: number }[] = [];
  const checkpointDir = path.join(bench.daemon.dataDir, "sandboxes", sandbox.id, "checkpoint");
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    bench.signal.throwIfAborted();
    const name = i < WARMUP ? "warm-up" : `round ${i - WARMUP + 1}/${ROUNDS}`;
    const pauseMs = await timed(() => sandbox.pause());
    if (runtime === "runsc") {
      await settled(sandbox.id, bench.signal);
      checkpoints.push(await diskUsage(checkpointDir));
    }
    paused.push(await hostMemory(sandbox.id));
    const resumeMs = await timed(() => sandbox.resume());
    const execMs = await timed(() => execTrue(sandbox));
    const createMs = await timeCreate(bench, { runtime, image: IMAGE });
    if (i >= WARMUP)
      rounds.push({ pause: pauseMs, resume: resumeMs, exec: execMs, create: createMs });
    process.stderr.write(
      `${runtime} ${name}: pause ${pauseMs.toFixed(1)} ms, resume ${resumeMs.toFixed(1)} ms, exec ${execMs.toFixed(1)} ms, cold create ${createMs.toFixed(1)} ms, paused PSS ${(paused.at(-1)!.pss / MiB).toFixed(1)} MiB\n`,
    );
    if (i >= WARMUP + SNAPSHOT_ROUNDS) continue;
    const s = await snapshotRound(bench, sandbox);
    if (i >= WARMUP) snapshotRounds.push(s);
    process.stderr.write(
      `${runtime} ${name}: snapshot ${s.snapshot.toFixed(1)} ms (${s.kind}, ${(s.size.apparent / MiB).toFixed(1)} MiB), create from it ${s.fork.toFixed(1)} ms, exec ${s.exec.toFixed(1)} ms\n`,
    );
  }
  // The holder lived through every round with its memory.
  await checkHolder(sandbox, "the rounds");
  const resumed = await hostMemory(sandbox.id);
  await bench.terminate(sandbox);

  const pause = pick(rounds, "pause");
  const resume = pick(rounds, "resume");
  const create = pick(rounds, "create");
  const snapshot = pick(snapshotRounds, "snapshot");
  const fork = pick(snapshotRounds, "fork");
  return {
    id: sandbox.id,
    runtime,
    pause,
    resume,
    exec: pick(rounds, "exec"),
    create,
    resumeOverCreateP50: ratio(resume.p50, create.p50),
    pauseOverCreateP50: ratio(pause.p50, create.p50),
    running,
    paused: median(paused, (m) => m.pss),
    resumed,
    checkpoint: checkpoints.length > 0 ? median(checkpoints, (c) => c.disk) : undefined,
    snapshots: {
      kind: snapshotRounds[0]!.kind,
      snapshot,
      fork,
      exec: pick(snapshotRounds, "exec"),
      forkOverCreateP50: ratio(fork.p50, create.p50),
      snapshotOverCreateP50: ratio(snapshot.p50, create.p50),
      size: median(
        snapshotRounds.map((r) => r.size),
        (s) => s.disk,
      ),
      snapshotIds: snapshotRounds.map((r) => r.snapshotId),
      forkIds: snapshotRounds.map((r) => r.forkId),
    },
  };
}

/**
 * The p50 of each step the daemon logged under `messages` (message -> name of its total `ms`)
 * for the ids in `ids`, skipping each step's first `skip` samples (the warm-up's lines come first).
 */
function logSteps(
  log: string,
  ids: string[],
  messages: Record<string, string>,
  skip = 0,
): Record<string, number> {
  const samples: Record<string, number[]> = {};
  for (const line of log.split("\n")) {
    if (!ids.some((id) => line.includes(id))) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const total = messages[String(entry.msg)];
    if (total === undefined || !ids.includes(String(entry.id))) continue;
    for (const [key, value] of Object.entries(entry))
      if ((key.endsWith("Ms") || key === "ms") && typeof value === "number")
        (samples[key === "ms" ? `${total}Ms` : key] ??= []).push(value);
  }
  return Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [k, percentile(v.slice(skip), 50)]),
  );
}

/** `name 12, other 34` from per-step p50s in ms. */
const stepList = (steps: Record<string, number>) =>
  Object.entries(steps)
    .map(([k, v]) => `${k.replace(/Ms$/, "")} ${v}`)
    .join(", ");

// The daemon's info lines carry per-step timings (pause, resume, snapshot, create): kept in a file to read.
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
    const results: Result[] = measured.map(({ id, snapshots, ...r }) => {
      const { snapshotIds, forkIds, ...s } = snapshots;
      const pauseSteps = { "sandbox paused": "pause", "sandbox resumed": "resume" };
      return {
        ...r,
        steps: logSteps(log, [id], pauseSteps, WARMUP),
        snapshots: {
          ...s,
          steps: {
            ...logSteps(log, snapshotIds, { "snapshot taken": "snapshot" }),
            ...logSteps(log, forkIds, { "sandbox created": "create" }),
          },
        },
      };
    });
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
          stepList(r.steps),
        ]),
      ],
      [
        "memory = PSS summed over the host processes in the sandbox's cgroup or naming its id (the daemon not counted), running before the first pause, paused in each round (median), resumed after the last round; the paused runsc sandbox is measured once its stopped container is removed",
        `daemon steps = the daemon's log (ms); its log: ${logFile}`,
      ],
    );
    console.log();
    printTable(
      [
        [
          "runtime",
          "snapshot p50",
          "p90",
          "create from it p50",
          "p90",
          "+exec true p50",
          "cold create p50",
          "from/cold",
          "snapshot/cold",
          "size",
          "on disk",
          "target from snapshot",
          "",
          "daemon steps p50",
        ],
        ...results.map(({ runtime, create, snapshots: s }) => [
          `${runtime} (${s.kind})`,
          ms(s.snapshot.p50),
          ms(s.snapshot.p90),
          ms(s.fork.p50),
          ms(s.fork.p90),
          ms(s.exec.p50),
          ms(create.p50),
          `${s.forkOverCreateP50.toFixed(2)}x`,
          `${s.snapshotOverCreateP50.toFixed(2)}x`,
          mib(s.size.apparent),
          mib(s.size.disk),
          runtime === "runsc" ? `<= ${TARGET_FORK_MS} ms` : "",
          runtime === "runsc" ? passMiss(s.fork.p50 <= TARGET_FORK_MS) : "",
          stepList(s.steps),
        ]),
      ],
      [
        `snapshot = sandbox.snapshot() of the sandbox above (runsc: memory, processes and files by a checkpoint that leaves it running; runc: its files, copied frozen); create from it = Sandbox.create({ snapshot }) until the agent answers; +exec true = the exec in the copy right after; ${SNAPSHOT_ROUNDS} rounds after ${WARMUP} warm-up, each copy terminated and its snapshot deleted within its round`,
        "cold create = the p50 of the table above; size = the API's sizeBytes, on disk = its blocks (median of the rounds); daemon steps: snapshot = the daemon's snapshot, rootfs/start/agent = the copy's create",
      ],
    );
    await writeResults("pause", {
      image: IMAGE,
      holdMiB: HOLD_MIB,
      rounds: ROUNDS,
      snapshotRounds: SNAPSHOT_ROUNDS,
      warmup: WARMUP,
      targets: {
        resumeMs: TARGET_RESUME_MS,
        pausedMiB: TARGET_PAUSED_MIB,
        createFromSnapshotMs: TARGET_FORK_MS,
      },
      results,
    });
  },
);
