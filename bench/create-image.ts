/**
 * Creating from a stored OCI image: `Sandbox.create` (until the agent answers) from a
 * debian-sized image imported as a `docker save` archive (the built-in debian image's root
 * filesystem, made an OCI image with umoci and saved with skopeo), beside the built-in debian
 * image itself, interleaved, on runc and runsc, in one run. Also times the import. Needs root and
 * a build; run with `npm run bench -- create-image`.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { Images } from "paddock";
import { run } from "./lib/command.js";
import type { Runtime } from "./lib/daemon.js";
import { benchMain, timeCreate } from "./lib/main.js";
import { IMAGES_DIR } from "./lib/paths.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { stats, timed, type Stats } from "./lib/stats.js";

const RUNS = 30;
const WARMUP = 2;
/** The issue's target: the imported image's p50 within this of the built-in image's. */
const TARGET_DELTA_MS = 10;
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const BUILTIN = "debian";
const IMPORTED = "paddock-bench/debian:oci";

const signed = (ms: number) => `${ms >= 0 ? "+" : ""}${ms.toFixed(1)} ms`;

interface Result {
  runtime: Runtime;
  builtin: Stats;
  imported: Stats;
  deltaP50: number;
  pairedP50: number;
  pass: boolean;
}

/** The built-in debian rootfs as a one-layer OCI image (umoci), saved as a docker archive. */
async function makeArchive(dir: string): Promise<string> {
  const layout = path.join(dir, "layout");
  const bundle = path.join(dir, "bundle");
  const archive = path.join(dir, "debian.docker.tar");
  await run("umoci", ["init", "--layout", layout]);
  await run("umoci", ["new", "--image", `${layout}:oci`]);
  await run("umoci", ["unpack", "--image", `${layout}:oci`, bundle]);
  await run("cp", [
    "-a",
    "--",
    `${path.join(IMAGES_DIR, BUILTIN, "rootfs")}/.`,
    `${bundle}/rootfs/`,
  ]);
  await run("umoci", ["repack", "--image", `${layout}:oci`, bundle]);
  await run("umoci", [
    "config",
    "--image",
    `${layout}:oci`,
    "--clear=config.env",
    "--config.env",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--config.cmd",
    "bash",
  ]);
  await run("skopeo", [
    "copy",
    "--quiet",
    `oci:${layout}:oci`,
    `docker-archive:${archive}:${IMPORTED}`,
  ]);
  return archive;
}

benchMain(
  [BUILTIN],
  async (bench) => {
    const images = new Images(bench.client);
    const dir = await mkdtemp(path.join(tmpdir(), "paddock-bench-create-image-"));
    try {
      await images.remove(IMPORTED).catch(() => {});
      const archive = await makeArchive(dir);
      let sizeMiB = 0;
      const importMs = await timed(async () => {
        const body = Readable.toWeb(createReadStream(archive)) as ReadableStream<Uint8Array>;
        sizeMiB = ((await images.import(IMPORTED, body)).sizeBytes ?? 0) / 2 ** 20;
      });
      process.stderr.write(
        `imported ${IMPORTED} (${sizeMiB.toFixed(0)} MiB) in ${importMs.toFixed(0)} ms\n`,
      );
      const results: Result[] = [];
      for (const runtime of RUNTIMES) {
        const builtin: number[] = [];
        const imported: number[] = [];
        // Interleaved, in turns of order (built-in first, then imported first), so drift in
        // machine load and whatever the first create of a pair leaves hit both alike.
        for (let i = 0; i < WARMUP + RUNS; i++) {
          bench.signal.throwIfAborted();
          let b: number;
          let p: number;
          if (i % 2 === 0) {
            b = await timeCreate(bench, { runtime, image: BUILTIN });
            p = await timeCreate(bench, { runtime, image: IMPORTED });
          } else {
            p = await timeCreate(bench, { runtime, image: IMPORTED });
            b = await timeCreate(bench, { runtime, image: BUILTIN });
          }
          if (i >= WARMUP) {
            builtin.push(b);
            imported.push(p);
          }
          process.stderr.write(
            `${runtime} ${i < WARMUP ? "warm-up" : `run ${i - WARMUP + 1}/${RUNS}`}: built-in ${b.toFixed(1)} ms, imported ${p.toFixed(1)} ms\n`,
          );
        }
        const bs = stats(builtin);
        const ps = stats(imported);
        const deltaP50 = Math.round((ps.p50 - bs.p50) * 10) / 10;
        // The median of each pair's difference: less moved by load than two p50s apart.
        const pairedP50 = stats(imported.map((p, k) => p - builtin[k]!)).p50;
        results.push({
          runtime,
          builtin: bs,
          imported: ps,
          deltaP50,
          pairedP50,
          pass: deltaP50 <= TARGET_DELTA_MS,
        });
      }
      return { results, importMs, sizeMiB: Math.round(sizeMiB) };
    } finally {
      await images.remove(IMPORTED).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  },
  async ({ results, importMs, sizeMiB }) => {
    printTable(
      [
        [
          "runtime",
          "built-in p50",
          "built-in p95",
          "imported p50",
          "imported p95",
          "p50 delta",
          "paired median",
          "target",
          "",
        ],
        ...results.map((r) => [
          r.runtime,
          `${r.builtin.p50.toFixed(1)} ms`,
          `${r.builtin.p95.toFixed(1)} ms`,
          `${r.imported.p50.toFixed(1)} ms`,
          `${r.imported.p95.toFixed(1)} ms`,
          signed(r.deltaP50),
          signed(r.pairedP50),
          `<= +${TARGET_DELTA_MS} ms`,
          passMiss(r.pass),
        ]),
      ],
      [
        `create = Sandbox.create until the agent answers; built-in = the debian image, imported = the same root filesystem as a docker save archive (${sizeMiB} MiB unpacked), stored by digest like a pulled image; ${RUNS} interleaved runs after ${WARMUP} warm-ups; paired median = the median of (imported - built-in) over the pairs`,
        `importing the archive (paddock image import, skopeo + umoci) took ${importMs.toFixed(0)} ms`,
      ],
    );
    await writeResults("create-image", { runs: RUNS, warmup: WARMUP, importMs, sizeMiB, results });
  },
);
