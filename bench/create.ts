/**
 * Sandbox creation latency: Paddock's `Sandbox.create` (until the agent answers) against the bare
 * runtime running `true` from the same image, for runc and runsc, in one run on one machine.
 * Needs root and a build (`npm run build`); run with `npm run bench -- create`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Images, Sandbox } from "paddock";

type Runtime = "runc" | "runsc";

const RUNS = 20;
const WARMUP = 2;
/** The issue's targets for the p50 of Paddock's create. */
const TARGET_P50_MS: Record<Runtime, number> = { runc: 150, runsc: 600 };
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const IMAGE = "busybox";

/** The repo root, found upward from this file: it runs as a bundle in bench/.out/, from any cwd. */
function findRepo(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "packages/cli/package.json"))) {
    if (dir === path.dirname(dir)) throw new Error("cannot find the Paddock repo above this file");
    dir = path.dirname(dir);
  }
  return dir;
}
const REPO = findRepo();
const CLI = path.join(REPO, "packages/cli/dist/main.js");
const RESULTS = path.join(REPO, "bench/results/create.json");
const IMAGES_DIR = process.env.PADDOCK_BENCH_IMAGES_DIR ?? "/var/tmp/paddock-test-images";

interface Stats {
  p50: number;
  p95: number;
  samples: number[];
}

interface Daemon {
  url: string;
  token: string;
  stop(): Promise<void>;
}

/** Runs a command to completion; rejects with its stderr when it fails. */
function exec(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${file} ${args.join(" ")}: exit ${code ?? signal}: ${stderr.trim()}`)),
    );
  });
}

/** Mount points at or below `dir`, from the host's mount table. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Nearest-rank percentile: a value that was actually measured. */
function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return { p50: round(at(50)), p95: round(at(95)), samples: samples.map(round) };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** `paddock serve` on a free port and its own data dir, as a user would start it. */
async function startDaemon(): Promise<Daemon> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "paddock-bench-"));
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, "serve", "--port", "0", "--data-dir", dataDir, "--images-dir", IMAGES_DIR],
    {
      // Its own process group: a Ctrl-C reaches only the benchmark, which then stops the daemon
      // between runs; killed mid-create, the daemon (and its runsc) would leave a sandbox behind.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PADDOCK_LOG_LEVEL: process.env.PADDOCK_LOG_LEVEL ?? "warn" },
    },
  );
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      // A daemon that cannot shut down must not hang the benchmark.
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    }
    // Never rm -rf through a mount a sandbox left behind: that would reach into other files.
    const left = mountsUnder(dataDir);
    if (left.length > 0)
      throw new Error(`left ${dataDir} in place, still mounted: ${left.join(", ")}`);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", (line) =>
        resolve((JSON.parse(line) as { url: string }).url),
      );
      child.once("exit", (code) => reject(new Error(`daemon exited with ${code}: ${stderr}`)));
    });
    const token = (await readFile(path.join(dataDir, "token"), "utf8")).trim();
    return { url, token, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The smallest OCI spec that runs /bin/true in fresh namespaces. */
function ociSpec(rootfs: string): object {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ["/bin/true"],
      env: ["PATH=/bin:/usr/bin"],
      cwd: "/",
    },
    root: { path: rootfs, readonly: false },
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755"] },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
    ],
    linux: { namespaces: ["pid", "network", "ipc", "uts", "mount"].map((type) => ({ type })) },
  };
}

/**
 * One raw `run` of `true`, timed from spawning the runtime to its exit (the container is deleted
 * by then). Bundle, overlay mount and cleanup are outside the timing: they are set-up, not the runtime.
 */
async function rawRun(runtime: Runtime, imageRootfs: string, n: number): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), `paddock-bench-${runtime}-`));
  const bundle = path.join(dir, "bundle");
  const state = path.join(dir, "state");
  const id = `bench-${process.pid}-${n}`;
  // runsc wants the same global flags on every call for a container, delete included.
  const overlay = path.join(dir, "overlay");
  const global =
    runtime === "runc"
      ? ["--root", state]
      : ["--root", state, "--network=none", `--overlay2=root:dir=${overlay}`];
  let mounted = "";
  try {
    await mkdir(bundle);
    let rootfs = imageRootfs;
    if (runtime === "runc") {
      // runc writes straight into its rootfs, so each run gets its own overlay on the image.
      rootfs = path.join(dir, "rootfs");
      for (const d of ["upper", "work", "rootfs"]) await mkdir(path.join(dir, d));
      const opts = `lowerdir=${imageRootfs},upperdir=${path.join(dir, "upper")},workdir=${path.join(dir, "work")}`;
      await exec("mount", ["-t", "overlay", "overlay", "-o", opts, rootfs]);
      mounted = rootfs;
    } else {
      // runsc overlays the rootfs itself; its filestore goes to our temp dir, not the image.
      await mkdir(overlay);
    }
    await writeFile(path.join(bundle, "config.json"), JSON.stringify(ociSpec(rootfs)));
    return await timed(() => exec(runtime, [...global, "run", "--bundle", bundle, id]));
  } finally {
    // Only matters after a failure: a finished `run` already deleted its container.
    await exec(runtime, [...global, "delete", "--force", id]).catch(() => {});
    if (mounted) await exec("umount", [mounted]);
    await rm(dir, { recursive: true, force: true });
  }
}

interface Result {
  runtime: Runtime;
  paddock: Stats;
  raw: Stats;
  ratioP50: number;
  targetP50: number;
  pass: boolean;
}

/** A plain aligned table; console.table would add an index column and quotes. */
function printTable(results: Result[]): void {
  const rows = [
    ["runtime", "create p50", "create p95", "raw p50", "raw p95", "p50 ratio", "target p50", ""],
    ...results.map((r) => [
      r.runtime,
      `${r.paddock.p50.toFixed(1)} ms`,
      `${r.paddock.p95.toFixed(1)} ms`,
      `${r.raw.p50.toFixed(1)} ms`,
      `${r.raw.p95.toFixed(1)} ms`,
      `${r.ratioP50.toFixed(2)}x`,
      `<= ${r.targetP50} ms`,
      r.pass ? "PASS" : "MISS",
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((cell, c) => cell.padEnd(widths[c]!)).join("  ");
  for (const row of rows) console.log(line(row).trimEnd());
  console.log(
    `create = Sandbox.create until the agent answers; raw = \`<runtime> run\` of /bin/true; ${RUNS} runs after ${WARMUP} warm-ups`,
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error("the benchmark needs root (it runs runc and runsc)");
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  // Ctrl-C (or a kill) stops between runs so everything still gets cleaned up.
  const abort = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => abort.abort(new Error(`interrupted by ${signal}`)));

  const daemon = await startDaemon();
  const results: Result[] = [];
  let live: Sandbox | undefined;
  try {
    const client = { url: daemon.url, token: daemon.token };
    // Built once and untimed, so neither side pays for the image.
    await new Images(client).build(IMAGE);
    const imageRootfs = path.join(IMAGES_DIR, IMAGE, "rootfs");

    for (const runtime of RUNTIMES) {
      const paddock: number[] = [];
      const raw: number[] = [];
      // Interleaved, so drift in machine load hits both sides alike.
      for (let i = 0; i < WARMUP + RUNS; i++) {
        abort.signal.throwIfAborted();
        const ms = await timed(async () => {
          live = await Sandbox.create({ ...client, runtime, image: IMAGE });
        });
        await live!.terminate();
        live = undefined;
        const rawMs = await rawRun(runtime, imageRootfs, i);
        if (i >= WARMUP) {
          paddock.push(ms);
          raw.push(rawMs);
        }
        process.stderr.write(
          `${runtime} ${i < WARMUP ? "warm-up" : `run ${i - WARMUP + 1}/${RUNS}`}: create ${ms.toFixed(1)} ms, raw ${rawMs.toFixed(1)} ms\n`,
        );
      }
      const p = stats(paddock);
      const r = stats(raw);
      const target = TARGET_P50_MS[runtime];
      results.push({
        runtime,
        paddock: p,
        raw: r,
        ratioP50: Math.round((p.p50 / r.p50) * 100) / 100,
        targetP50: target,
        pass: p.p50 <= target,
      });
    }
  } finally {
    // Sandboxes outlive the daemon, so one left by a failure is terminated first.
    await live?.terminate().catch(() => {});
    await daemon.stop();
  }

  printTable(results);
  await mkdir(path.dirname(RESULTS), { recursive: true });
  // Load and cpus are kept because a busy machine moves these numbers a lot.
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadavg: loadavg(),
    image: IMAGE,
    runs: RUNS,
    warmup: WARMUP,
    results,
  };
  await writeFile(RESULTS, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`results written to ${path.relative(process.cwd(), RESULTS) || RESULTS}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
