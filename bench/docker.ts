/**
 * Docker start-up: `Sandbox.create({ docker: true })` until it returns (the daemon answers only
 * once `docker info` does inside) beside a plain create of the same image without Docker, for
 * runc and runsc, interleaved in one run; the difference is what starting dockerd costs.
 * Needs root and a build; run with `npm run bench -- docker`.
 */
import type { Runtime } from "./lib/daemon.js";
import { benchMain, timeCreate } from "./lib/main.js";
import { printTable, writeResults } from "./lib/report.js";
import { round1, stats, type Stats } from "./lib/stats.js";

// Docker under runc has root on the host, so a daemon allows it only on its operator's word and
// only for the admin token: this benchmark's daemon is its own and is used with that token alone.
process.env.PADDOCK_ALLOW_RUNC_DOCKER = "1";

const RUNS = 5;
const WARMUP = 1;
const RUNTIMES: Runtime[] = ["runc", "runsc"];
/** The built-in image with dockerd; the plain creates use it too, so only dockerd differs. */
const IMAGE = "docker";
const MEMORY_MIB = 2048;

interface Result {
  runtime: Runtime;
  docker: Stats;
  plain: Stats;
  /** docker p50 - plain p50: starting dockerd until `docker info` answers. */
  dockerdP50: number;
}

benchMain(
  [IMAGE],
  async (bench) => {
    const results: Result[] = [];
    for (const runtime of RUNTIMES) {
      const options = { runtime, image: IMAGE, memoryMiB: MEMORY_MIB };
      const docker: number[] = [];
      const plain: number[] = [];
      // Interleaved, so drift in machine load hits both sides alike.
      for (let i = 0; i < WARMUP + RUNS; i++) {
        bench.signal.throwIfAborted();
        const dockerMs = await timeCreate(bench, { ...options, docker: true });
        const plainMs = await timeCreate(bench, { ...options, docker: false });
        if (i >= WARMUP) {
          docker.push(dockerMs);
          plain.push(plainMs);
        }
        process.stderr.write(
          `${runtime} ${i < WARMUP ? "warm-up" : `run ${i - WARMUP + 1}/${RUNS}`}: docker ${dockerMs.toFixed(0)} ms, plain ${plainMs.toFixed(0)} ms\n`,
        );
      }
      const d = stats(docker);
      const p = stats(plain);
      results.push({ runtime, docker: d, plain: p, dockerdP50: round1(d.p50 - p.p50) });
    }
    return results;
  },
  async (results) => {
    const ms = (n: number) => `${n.toFixed(1)} ms`;
    printTable(
      [
        ["runtime", "docker p50", "docker p95", "plain p50", "plain p95", "dockerd (p50 diff)"],
        ...results.map((r) => [
          r.runtime,
          ms(r.docker.p50),
          ms(r.docker.p95),
          ms(r.plain.p50),
          ms(r.plain.p95),
          ms(r.dockerdP50),
        ]),
      ],
      [
        `docker = Sandbox.create({ docker: true }) until it returns (\`docker info\` answers inside); plain = the same create of image "${IMAGE}" without docker`,
        `memoryMiB ${MEMORY_MIB}; ${RUNS} interleaved runs of each after ${WARMUP} warm-up, terminate untimed`,
      ],
    );
    await writeResults("docker", {
      image: IMAGE,
      memoryMiB: MEMORY_MIB,
      runs: RUNS,
      warmup: WARMUP,
      results,
    });
  },
);
