/**
 * The Python SDK (sdk-python/) beside the TypeScript SDK, against one daemon and the same
 * sandbox, interleaved in one run: the round trip of `exec("true")` until it has exited, and one
 * `upload_files` of 1,000 files of 4 KiB. The Python side is sdk-python/bench/driver.py, a
 * long-lived child that times what it is asked, so its rounds alternate with the TypeScript
 * SDK's and drift in machine load hits both alike. Needs root, a build and Debian's python3 with
 * python3-httpx; run with `npm run bench -- python-sdk`.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Sandbox } from "paddock";
import { benchMain } from "./lib/main.js";
import { REPO } from "./lib/paths.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { ratio, stats, timed, type Stats } from "./lib/stats.js";
import type { Runtime } from "./lib/daemon.js";

const RUNTIMES: Runtime[] = ["runc", "runsc"];
const IMAGE = "busybox";
/** The target: the Python SDK's p50 at most this many times the TypeScript SDK's. */
const TARGET_RATIO = 1.3;
const OPS = {
  exec: { rounds: 5, perRound: 20, warmup: 10 },
  upload: { rounds: 5, perRound: 2, warmup: 2 },
} as const;
type Op = keyof typeof OPS;
const BATCH_FILES = 1000;
const BATCH_FILE_BYTES = 4096;
/** Debian's python3, where python3-httpx is installed (a pyenv python3 on PATH lacks it). */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** The Python driver for one sandbox: `run(op, n)` resolves with its n samples (ms). */
async function pythonDriver(client: { url: string; token: string }, sandboxId: string) {
  const child = spawn(PYTHON, [path.join(REPO, "sdk-python/bench/driver.py"), sandboxId], {
    stdio: ["pipe", "pipe", "inherit"],
    env: {
      ...process.env,
      PYTHONDONTWRITEBYTECODE: "1",
      PADDOCK_URL: client.url,
      PADDOCK_TOKEN: client.token,
    },
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<unknown> => {
    const { value, done } = await lines.next();
    if (done) throw new Error("the Python driver exited; its error is above");
    return JSON.parse(value as string);
  };
  await next(); // {"ready": true}
  return {
    async run(op: Op, n: number): Promise<number[]> {
      child.stdin.write(`${op} ${n}\n`);
      const samples = await next();
      if (!Array.isArray(samples)) throw new Error(`the Python driver answered ${String(samples)}`);
      return samples.map(Number);
    },
    stop() {
      child.stdin.end();
    },
  };
}

function typescriptOps(sandbox: Sandbox): Record<Op, () => Promise<void>> {
  const files = Array.from({ length: BATCH_FILES }, (_, i) => ({
    path: `/bench/ts/${String(i).padStart(4, "0")}.bin`,
    source: randomBytes(BATCH_FILE_BYTES),
  }));
  return {
    async exec() {
      const exit = await (await sandbox.process.exec("true")).wait();
      if (exit.exitCode !== 0) throw new Error(`true exited with ${JSON.stringify(exit)}`);
    },
    async upload() {
      const results = await sandbox.fs.uploadFiles(files);
      if (!results.every((r) => r.ok)) throw new Error("an upload failed");
    },
  };
}

interface Result {
  runtime: Runtime;
  op: Op;
  typescript: Stats;
  python: Stats;
  /** Python p50 / TypeScript p50. */
  ratio: number;
  pass: boolean;
}

benchMain(
  [IMAGE],
  async (bench) => {
    const results: Result[] = [];
    for (const runtime of RUNTIMES) {
      const sandbox = await bench.create({ runtime, image: IMAGE, memoryMiB: 1024 });
      const ts = typescriptOps(sandbox);
      const py = await pythonDriver(bench.client, sandbox.id);
      try {
        for (const op of Object.keys(OPS) as Op[]) {
          const { rounds, perRound, warmup } = OPS[op];
          for (let i = 0; i < warmup; i++) await ts[op]();
          await py.run(op, warmup);
          const tsSamples: number[] = [];
          const pySamples: number[] = [];
          for (let r = 0; r < rounds; r++) {
            bench.signal.throwIfAborted();
            for (let i = 0; i < perRound; i++) tsSamples.push(await timed(ts[op]));
            pySamples.push(...(await py.run(op, perRound)));
          }
          const t = stats(tsSamples);
          const p = stats(pySamples);
          const r = ratio(p.p50, t.p50);
          process.stderr.write(`${runtime} ${op}: python p50 ${p.p50} ms, ts p50 ${t.p50} ms\n`);
          results.push({
            runtime,
            op,
            typescript: t,
            python: p,
            ratio: r,
            pass: r <= TARGET_RATIO,
          });
        }
      } finally {
        py.stop();
        await bench.terminate(sandbox);
      }
    }
    return results;
  },
  async (results) => {
    printTable(
      [
        [
          "runtime",
          "operation",
          "python p50",
          "python p95",
          "ts p50",
          "ts p95",
          "ratio",
          "target",
          "",
        ],
        ...results.map((r) => [
          r.runtime,
          r.op === "exec" ? 'exec("true")' : `upload_files ${BATCH_FILES} x 4 KiB`,
          `${r.python.p50.toFixed(1)} ms`,
          `${r.python.p95.toFixed(1)} ms`,
          `${r.typescript.p50.toFixed(1)} ms`,
          `${r.typescript.p95.toFixed(1)} ms`,
          `${r.ratio.toFixed(2)}x`,
          `<= ${TARGET_RATIO}x`,
          passMiss(r.pass),
        ]),
      ],
      [
        "python = sdk-python (sync Sandbox, httpx); ts = packages/sdk; same daemon and sandbox, rounds interleaved",
        `exec: ${OPS.exec.rounds} rounds of ${OPS.exec.perRound} runs each after ${OPS.exec.warmup} warm-ups; upload: ${OPS.upload.rounds} rounds of ${OPS.upload.perRound} after ${OPS.upload.warmup}`,
        "ratio = python p50 / ts p50",
      ],
    );
    await writeResults("python-sdk", { image: IMAGE, results });
  },
);
