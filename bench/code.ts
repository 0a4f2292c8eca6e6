/**
 * Code that keeps its state: `sandbox.code.run("x += 1")` in a warm Python context beside
 * starting Python for each run (`process.exec("python3", "-c", "x=1; x += 1")` until it has
 * exited), interleaved in one debian sandbox per runtime. Needs root and a build; run with
 * `npm run bench -- code`.
 */
import type { Sandbox } from "paddock";
import type { Runtime } from "./lib/daemon.js";
import { benchMain } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { ratio, stats, timed, type Stats } from "./lib/stats.js";

const RUNS = 100;
const WARMUP = 10;
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const IMAGE = "debian";
/** The target: a warm context run at least this many times faster than a fresh python. */
const TARGET_SPEEDUP = 5;

async function contextRun(sandbox: Sandbox, context: string): Promise<void> {
  const r = await sandbox.code.run("x += 1", { context });
  if (r.error) throw new Error(`x += 1 raised ${JSON.stringify(r.error)}`);
}

async function freshPython(sandbox: Sandbox): Promise<void> {
  const exit = await (await sandbox.process.exec("python3", "-c", "x=1; x += 1")).wait();
  if (exit.exitCode !== 0) throw new Error(`python3 exited with ${JSON.stringify(exit)}`);
}

interface Result {
  runtime: Runtime;
  context: Stats;
  fresh: Stats;
  /** Fresh python p50 / context run p50. */
  speedup: number;
  pass: boolean;
}

benchMain(
  [IMAGE],
  async (bench) => {
    const results: Result[] = [];
    for (const runtime of RUNTIMES) {
      const sandbox = await bench.create({ runtime, image: IMAGE });
      const { id } = await sandbox.code.createContext({ language: "python" });
      await sandbox.code.run("x = 0", { context: id });
      const context: number[] = [];
      const fresh: number[] = [];
      for (let i = 0; i < WARMUP; i++) {
        await contextRun(sandbox, id);
        await freshPython(sandbox);
      }
      for (let i = 0; i < RUNS; i++) {
        bench.signal.throwIfAborted();
        context.push(await timed(() => contextRun(sandbox, id)));
        fresh.push(await timed(() => freshPython(sandbox)));
      }
      const x = (await sandbox.code.run("x", { context: id })).value;
      if (x !== String(WARMUP + RUNS)) throw new Error(`x is ${x}: the state was not kept`);
      await bench.terminate(sandbox);
      const c = stats(context);
      const f = stats(fresh);
      const speedup = ratio(f.p50, c.p50);
      process.stderr.write(`${runtime}: context p50 ${c.p50} ms, fresh python p50 ${f.p50} ms\n`);
      results.push({ runtime, context: c, fresh: f, speedup, pass: speedup >= TARGET_SPEEDUP });
    }
    return results;
  },
  async (results) => {
    printTable(
      [
        ["runtime", "code.run p50", "p95", "fresh python p50", "p95", "speedup", "target", ""],
        ...results.map((r) => [
          r.runtime,
          `${r.context.p50.toFixed(1)} ms`,
          `${r.context.p95.toFixed(1)} ms`,
          `${r.fresh.p50.toFixed(1)} ms`,
          `${r.fresh.p95.toFixed(1)} ms`,
          `${r.speedup.toFixed(2)}x`,
          `>= ${TARGET_SPEEDUP}x`,
          passMiss(r.pass),
        ]),
      ],
      [
        `code.run = await sandbox.code.run("x += 1", { context }) in a warm python context; fresh python = await (await sandbox.process.exec("python3", "-c", "x=1; x += 1")).wait()`,
        `speedup = fresh p50 / code.run p50; ${RUNS} interleaved runs of each after ${WARMUP} warm-ups, one debian sandbox per runtime`,
      ],
    );
    await writeResults("code", { image: IMAGE, runs: RUNS, warmup: WARMUP, results });
  },
);
