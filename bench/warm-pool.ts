/**
 * Warm pools: `Sandbox.create` that claims a ready sandbox of a pool of 4, plus the first exec of
 * `true`, beside a cold create (a profile no pool has) plus the same exec, interleaved in one run
 * on one daemon, for busybox on runc and runsc. The pool is refilled (untimed) before each pooled
 * create, so every one claims a ready sandbox. Needs root and a build; run with
 * `npm run bench -- warm-pool`.
 */
import { WarmPools, type Sandbox } from "paddock";
import type { Bench } from "./lib/main.js";
import type { Runtime } from "./lib/daemon.js";
import { benchMain } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { ratio, stats, type Stats } from "./lib/stats.js";

const RUNS = 20;
const WARMUP = 2;
const POOL_SIZE = 4;
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const IMAGE = "busybox";
/** The pool's profile; the cold creates ask for other memory, which no pool has. */
const POOLED = { image: IMAGE, memoryMiB: 256 } as const;
const COLD = { image: IMAGE, memoryMiB: 320 } as const;
/** The issue's target for the p50 of a pooled create with its first exec. */
const TARGET_P50_MS = 30;

/** Waits (untimed) until the pool is full again and nothing is being made. */
async function refilled(pools: WarmPools, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    signal.throwIfAborted();
    const [pool] = await pools.list();
    if (pool?.lastError) throw new Error(`the pool failed to fill: ${pool.lastError}`);
    if (pool && pool.ready === POOL_SIZE && pool.filling === 0) return;
    if (Date.now() > deadline) throw new Error(`the pool did not refill: ${JSON.stringify(pool)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Create, then exec `true` until it has exited: [create ms, create + exec ms]. */
async function createAndExec(
  bench: Bench,
  options: Parameters<Bench["create"]>[0],
): Promise<[number, number, Sandbox]> {
  const t0 = performance.now();
  const sandbox = await bench.create(options);
  const created = performance.now() - t0;
  const exit = await (await sandbox.process.exec("true")).wait();
  const total = performance.now() - t0;
  if (exit.exitCode !== 0) throw new Error(`true exited with ${JSON.stringify(exit)}`);
  return [created, total, sandbox];
}

interface Result {
  runtime: Runtime;
  /** Pooled create alone, and with its first exec. */
  pooledCreate: Stats;
  pooled: Stats;
  coldCreate: Stats;
  cold: Stats;
  /** Cold p50 / pooled p50, both with the first exec. */
  speedupP50: number;
  targetP50: number;
  pass: boolean;
}

benchMain(
  [IMAGE],
  async (bench) => {
    const results: Result[] = [];
    const pools = new WarmPools(bench.client);
    for (const runtime of RUNTIMES) {
      await pools.set([{ ...POOLED, runtime, size: POOL_SIZE }]);
      const samples = { pooledCreate: [], pooled: [], coldCreate: [], cold: [] } as Record<
        "pooledCreate" | "pooled" | "coldCreate" | "cold",
        number[]
      >;
      for (let i = 0; i < WARMUP + RUNS; i++) {
        await refilled(pools, bench.signal);
        const [pc, p, pooledSandbox] = await createAndExec(bench, { ...POOLED, runtime });
        await bench.terminate(pooledSandbox);
        const [cc, c, coldSandbox] = await createAndExec(bench, { ...COLD, runtime });
        await bench.terminate(coldSandbox);
        if (i >= WARMUP) {
          samples.pooledCreate.push(pc);
          samples.pooled.push(p);
          samples.coldCreate.push(cc);
          samples.cold.push(c);
        }
        process.stderr.write(
          `${runtime} ${i < WARMUP ? "warm-up" : `run ${i - WARMUP + 1}/${RUNS}`}: pooled ${p.toFixed(1)} ms (create ${pc.toFixed(1)}), cold ${c.toFixed(1)} ms (create ${cc.toFixed(1)})\n`,
        );
      }
      await pools.set([]);
      const pooled = stats(samples.pooled);
      const cold = stats(samples.cold);
      results.push({
        runtime,
        pooledCreate: stats(samples.pooledCreate),
        pooled,
        coldCreate: stats(samples.coldCreate),
        cold,
        speedupP50: ratio(cold.p50, pooled.p50),
        targetP50: TARGET_P50_MS,
        pass: pooled.p50 <= TARGET_P50_MS,
      });
    }
    return results;
  },
  async (results) => {
    const ms = (n: number) => `${n.toFixed(1)} ms`;
    printTable(
      [
        [
          "runtime",
          "pooled p50",
          "p95",
          "(create p50)",
          "cold p50",
          "p95",
          "(create p50)",
          "cold/pooled",
          "target p50",
          "",
        ],
        ...results.map((r) => [
          r.runtime,
          ms(r.pooled.p50),
          ms(r.pooled.p95),
          ms(r.pooledCreate.p50),
          ms(r.cold.p50),
          ms(r.cold.p95),
          ms(r.coldCreate.p50),
          `${r.speedupP50.toFixed(1)}x`,
          `<= ${r.targetP50} ms`,
          passMiss(r.pass),
        ]),
      ],
      [
        `pooled = Sandbox.create claiming a ready sandbox of a pool of ${POOL_SIZE} + the first exec of \`true\` until it exits; cold = the same with a profile no pool has; ${RUNS} runs after ${WARMUP} warm-ups, interleaved`,
      ],
    );
    await writeResults("warm-pool", {
      image: IMAGE,
      poolSize: POOL_SIZE,
      runs: RUNS,
      warmup: WARMUP,
      results,
    });
  },
);
