import { existsSync } from "node:fs";
import { Images, Sandbox, type CreateSandboxOptions } from "paddock";
import { startDaemon, type Daemon } from "./daemon.js";
import { CLI } from "./paths.js";
import { timed } from "./stats.js";

export interface Bench {
  daemon: Daemon;
  client: { url: string; token: string };
  /** Aborted by Ctrl-C or SIGTERM: check it between runs so cleanup still happens. */
  signal: AbortSignal;
  /** Sandbox.create on this daemon; the sandbox is terminated when the benchmark ends. */
  create(options: Omit<CreateSandboxOptions, "url" | "token">): Promise<Sandbox>;
  /** Terminates a sandbox made by create before the benchmark ends. */
  terminate(sandbox: Sandbox): Promise<void>;
}

/** What a benchmark sets up around its daemon (a test network, say). */
export interface BenchEnvironment {
  /** Added to the daemon's environment. */
  daemonEnv: Record<string, string>;
  /** Undoes the set-up; called after the daemon stopped, whether the benchmark failed or not. */
  stop(): Promise<void>;
}

/**
 * Runs a benchmark: checks for root and a build, makes `environment` if given, starts its own
 * daemon, builds `images` untimed, calls `measure`, then terminates what it left (sandboxes
 * outlive the daemon), stops the daemon and removes its data dir, undoes the environment, and
 * only then calls `report` with what `measure` returned.
 */
export function benchMain<T>(
  images: string[],
  measure: (bench: Bench) => Promise<T>,
  report: (result: T) => Promise<void>,
  environment?: () => Promise<BenchEnvironment>,
): void {
  const main = async () => {
    if (process.getuid?.() !== 0)
      throw new Error("the benchmark needs root (it runs runc and runsc)");
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const abort = new AbortController();
    for (const signal of ["SIGINT", "SIGTERM"] as const)
      process.once(signal, () => abort.abort(new Error(`interrupted by ${signal}`)));

    const env = await environment?.();
    let result: T;
    try {
      result = await withDaemon(env?.daemonEnv ?? {}, abort.signal, images, measure);
    } finally {
      await env?.stop();
    }
    await report(result);
  };
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}

/** Starts the daemon, builds `images`, measures, then cleans up sandboxes and the daemon. */
async function withDaemon<T>(
  daemonEnv: Record<string, string>,
  signal: AbortSignal,
  images: string[],
  measure: (bench: Bench) => Promise<T>,
): Promise<T> {
  const daemon = await startDaemon(daemonEnv);
  const client = { url: daemon.url, token: daemon.token };
  const live = new Set<Sandbox>();
  try {
    for (const image of images) await new Images(client).build(image);
    return await measure({
      daemon,
      client,
      signal,
      async create(options) {
        const sandbox = await Sandbox.create({ ...options, ...client });
        live.add(sandbox);
        return sandbox;
      },
      async terminate(sandbox) {
        live.delete(sandbox);
        await sandbox.terminate();
      },
    });
  } finally {
    for (const sandbox of live) await sandbox.terminate().catch(() => {});
    await daemon.stop();
  }
}

/** Milliseconds one `bench.create` took, until it returned; the sandbox is then terminated, untimed. */
export async function timeCreate(
  bench: Bench,
  options: Parameters<Bench["create"]>[0],
): Promise<number> {
  let sandbox: Sandbox | undefined;
  const ms = await timed(async () => (sandbox = await bench.create(options)));
  await bench.terminate(sandbox!);
  return ms;
}
