import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { sandboxRuntimeFlags } from "../../packages/daemon/src/runtimes/index.js";
import { CLI, IMAGES_DIR } from "./paths.js";

export type Runtime = "runc" | "runsc";

export interface Daemon {
  url: string;
  token: string;
  /** The daemon's own data dir (removed by stop). */
  dataDir: string;
  /** The daemon's process id (for /proc/<pid>/status). */
  pid: number;
  stop(): Promise<void>;
}

/** Mount points at or below `dir`, from the host's mount table. */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/**
 * `paddock serve` on a free port and its own data dir, as a user would start it; `env` adds to
 * its environment (a benchmark's daemon settings).
 */
export async function startDaemon(env: Record<string, string> = {}): Promise<Daemon> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "paddock-bench-"));
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, "serve", "--port", "0", "--data-dir", dataDir, "--images-dir", IMAGES_DIR],
    {
      // Its own process group: a Ctrl-C reaches only the benchmark, which then stops the daemon
      // between runs; killed mid-create, the daemon (and its runsc) would leave a sandbox behind.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PADDOCK_LOG_LEVEL: process.env.PADDOCK_LOG_LEVEL ?? "warn", ...env },
    },
  );
  // PADDOCK_BENCH_DAEMON_LOG=FILE keeps the daemon's log lines (PADDOCK_LOG_LEVEL=info has create's timings).
  const logFile = process.env.PADDOCK_BENCH_DAEMON_LOG;
  if (logFile) child.stderr!.pipe(createWriteStream(logFile, { flags: "a" }));
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
    return { url, token, dataDir, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The flags the daemon gives the runtime for sandbox `id` (see sandboxRuntimeFlags). */
export function sandboxRuntimeArgs(daemon: Daemon, runtime: Runtime, id: string): string[] {
  return sandboxRuntimeFlags(daemon.dataDir, runtime, id);
}
