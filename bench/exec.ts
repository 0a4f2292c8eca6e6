/**
 * Exec round trip: `true` through the SDK (`sandbox.process.exec("true")` until it has exited)
 * beside the runtime's own `exec` of /bin/true into the very same container, for runc and runsc,
 * interleaved in one run. Needs root and a build; run with `npm run bench -- exec`.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Sandbox } from "paddock";
import { sandboxRuntimeArgs, type Runtime } from "./lib/daemon.js";
import { benchMain } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { ratio, stats, timed, type Stats } from "./lib/stats.js";

const RUNS = 100;
const WARMUP = 10;
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const IMAGE = "busybox";
/** The targets: the SDK's p50 at most this, and at least SPEEDUP times the runtime's. */
const TARGET_P50_MS: Record<Runtime, number> = { runc: 10, runsc: 20 };
const TARGET_SPEEDUP = 3;

const execFileAsync = promisify(execFile);

async function sdkTrue(sandbox: Sandbox): Promise<void> {
  const exit = await (await sandbox.process.exec("true")).wait();
  if (exit.exitCode !== 0) throw new Error(`true exited with ${JSON.stringify(exit)}`);
}

interface Result {
  runtime: Runtime;
  sdk: Stats;
  /** The SDK's runs back to back, with no runtime exec between them (not the target's figure). */
  sdkAlone: Stats;
  raw: Stats;
  /** Runtime exec p50 / SDK p50. */
  speedup: number;
  targetP50: number;
  targetSpeedup: number;
  pass: boolean;
}

benchMain(
  [IMAGE],
  async (bench) => {
    const results: Result[] = [];
    for (const runtime of RUNTIMES) {
      const sandbox = await bench.create({ runtime, image: IMAGE });
      const rawArgs = [...sandboxRuntimeArgs(bench.daemon, runtime, sandbox.id), "exec"];
      const rawTrue = () => execFileAsync(runtime, [...rawArgs, sandbox.id, "/bin/true"]);
      const sdk: number[] = [];
      const raw: number[] = [];
      // Warm-ups on both sides; then interleaved, so drift in machine load hits both alike.
      for (let i = 0; i < WARMUP; i++) {
        await sdkTrue(sandbox);
        await rawTrue();
      }
      for (let i = 0; i < RUNS; i++) {
        bench.signal.throwIfAborted();
        sdk.push(await timed(() => sdkTrue(sandbox)));
        raw.push(await timed(rawTrue));
      }
      // A runtime exec leaves the sandbox busy for a moment after it returns (under gVisor the
      // sentry tears the exec down); the SDK's figure on a quiet sandbox, for comparison only.
      const alone: number[] = [];
      for (let i = 0; i < RUNS; i++) alone.push(await timed(() => sdkTrue(sandbox)));
      await bench.terminate(sandbox);
      const s = stats(sdk);
      const r = stats(raw);
      const speedup = ratio(r.p50, s.p50);
      const targetP50 = TARGET_P50_MS[runtime];
      process.stderr.write(`${runtime}: sdk p50 ${s.p50} ms, ${runtime} exec p50 ${r.p50} ms\n`);
      results.push({
        runtime,
        sdk: s,
        sdkAlone: stats(alone),
        raw: r,
        speedup,
        targetP50,
        targetSpeedup: TARGET_SPEEDUP,
        pass: speedup >= TARGET_SPEEDUP && s.p50 <= targetP50,
      });
    }
    return results;
  },
  async (results) => {
    printTable(
      [
        [
          "runtime",
          "sdk p50",
          "sdk p95",
          "exec p50",
          "exec p95",
          "speedup",
          "target",
          "",
          "sdk p50 alone",
        ],
        ...results.map((r) => [
          r.runtime,
          `${r.sdk.p50.toFixed(1)} ms`,
          `${r.sdk.p95.toFixed(1)} ms`,
          `${r.raw.p50.toFixed(1)} ms`,
          `${r.raw.p95.toFixed(1)} ms`,
          `${r.speedup.toFixed(2)}x`,
          `>= ${r.targetSpeedup}x, <= ${r.targetP50} ms`,
          passMiss(r.pass),
          `${r.sdkAlone.p50.toFixed(1)} ms`,
        ]),
      ],
      [
        `sdk = await (await sandbox.process.exec("true")).wait(); exec = \`<runtime> <daemon's flags> exec <id> /bin/true\` into the same sandbox (execFile, no shell)`,
        `speedup = exec p50 / sdk p50; ${RUNS} interleaved runs of each after ${WARMUP} warm-ups, one busybox sandbox per runtime`,
        `sdk p50 alone = ${RUNS} more SDK runs back to back, no runtime exec between (not used for the target)`,
      ],
    );
    await writeResults("exec", { image: IMAGE, runs: RUNS, warmup: WARMUP, results });
  },
);
