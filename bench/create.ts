/**
 * Sandbox creation latency: Paddock's `Sandbox.create` (until the agent answers) against the bare
 * runtime running `true` from the same image, for runc and runsc, in one run on one machine.
 * Needs root and a build (`npm run build`); run with `npm run bench -- create`.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Sandbox } from "paddock";
import { run } from "./lib/command.js";
import type { Runtime } from "./lib/daemon.js";
import { benchMain } from "./lib/main.js";
import { IMAGES_DIR } from "./lib/paths.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { ratio, stats, timed, type Stats } from "./lib/stats.js";

const RUNS = 20;
const WARMUP = 2;
/** The issue's targets for the p50 of Paddock's create. */
const TARGET_P50_MS: Record<Runtime, number> = { runc: 150, runsc: 600 };
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const IMAGE = "busybox";

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
      await run("mount", ["-t", "overlay", "overlay", "-o", opts, rootfs]);
      mounted = rootfs;
    } else {
      // runsc overlays the rootfs itself; its filestore goes to our temp dir, not the image.
      await mkdir(overlay);
    }
    await writeFile(path.join(bundle, "config.json"), JSON.stringify(ociSpec(rootfs)));
    return await timed(() => run(runtime, [...global, "run", "--bundle", bundle, id]));
  } finally {
    // Only matters after a failure: a finished `run` already deleted its container.
    await run(runtime, [...global, "delete", "--force", id]).catch(() => {});
    if (mounted) await run("umount", [mounted]);
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

benchMain(
  [IMAGE],
  async (bench) => {
    const results: Result[] = [];
    const imageRootfs = path.join(IMAGES_DIR, IMAGE, "rootfs");
    for (const runtime of RUNTIMES) {
      const paddock: number[] = [];
      const raw: number[] = [];
      // Interleaved, so drift in machine load hits both sides alike.
      for (let i = 0; i < WARMUP + RUNS; i++) {
        bench.signal.throwIfAborted();
        let sandbox: Sandbox | undefined;
        const ms = await timed(async () => {
          sandbox = await bench.create({ runtime, image: IMAGE });
        });
        await bench.terminate(sandbox!);
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
        ratioP50: ratio(p.p50, r.p50),
        targetP50: target,
        pass: p.p50 <= target,
      });
    }
    return results;
  },
  async (results) => {
    printTable(
      [
        [
          "runtime",
          "create p50",
          "create p95",
          "raw p50",
          "raw p95",
          "p50 ratio",
          "target p50",
          "",
        ],
        ...results.map((r) => [
          r.runtime,
          `${r.paddock.p50.toFixed(1)} ms`,
          `${r.paddock.p95.toFixed(1)} ms`,
          `${r.raw.p50.toFixed(1)} ms`,
          `${r.raw.p95.toFixed(1)} ms`,
          `${r.ratioP50.toFixed(2)}x`,
          `<= ${r.targetP50} ms`,
          passMiss(r.pass),
        ]),
      ],
      [
        `create = Sandbox.create until the agent answers; raw = \`<runtime> run\` of /bin/true; ${RUNS} runs after ${WARMUP} warm-ups`,
      ],
    );
    await writeResults("create", { image: IMAGE, runs: RUNS, warmup: WARMUP, results });
  },
);
