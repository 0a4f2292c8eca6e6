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

/**
 * Runs a benchmark: checks for root and a build, starts its own daemon, builds `images` untimed,
 * calls `measure`, then terminates what it left (sandboxes outlive the daemon), stops the daemon
 * and removes its data dir, and only then calls `report` with what `measure` returned.
 */
export function benchMain<T>(
  images: string[],
  measure: (bench: Bench) => Promise<T>,
  report: (result: T) => Promise<void>,
): void {
  const main = async () => {
    if (process.getuid?.() !== 0)
      throw new Error("the benchmark needs root (it runs runc and runsc)");
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const abort = new AbortController();
    for (const signal of ["SIGINT", "SIGTERM"] as const)
      process.once(signal, () => abort.abort(new Error(`interrupted by ${signal}`)));

    const daemon = await startDaemon();
    const client = { url: daemon.url, token: daemon.token };
    const live = new Set<Sandbox>();
    let result: T;
    try {
      for (const image of images) await new Images(client).build(image);
      result = await measure({
        daemon,
        client,
        signal: abort.signal,
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
    await report(result);
  };
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
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
