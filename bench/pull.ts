/**
 * Pulling an image: `paddock image pull` (Images.pull) of a ~100 MiB, 3-layer image from a
 * loopback registry, store empty each time, beside the same work by hand in the same run
 * (`skopeo copy` to an OCI layout, then `umoci raw unpack`, and `umoci unpack` for reference),
 * interleaved; then a second pull of the stored digest. Needs root and a build; run with
 * `npm run bench -- pull`.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Images } from "paddock";
import { startRegistry } from "../tests/helpers/registry.js";
import { pushBigImage } from "../tests/helpers/test-images.js";
import { benchMain } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { ratio, stats, timed, type Stats } from "./lib/stats.js";

const RUNS = 5;
const AGAIN_RUNS = 20;
/** The targets: at most this times the tools by hand; a stored digest under this. */
const TARGET_RATIO = 1.2;
const TARGET_AGAIN_MS = 100;

// The registry is started before the daemon, which must be told it may speak plain HTTP to it.
const registry = await startRegistry();
process.env.PADDOCK_INSECURE_REGISTRIES = registry.host;

interface Result {
  image: string;
  sizeMiB: number;
  paddock: Stats;
  byHandRaw: Stats;
  byHandUnpack: Stats;
  ratio: number;
  again: Stats;
  pass: boolean;
}

/** skopeo copy + umoci unpack into a fresh temp dir; `raw`: `umoci raw unpack` as Paddock does. */
async function byHand(ref: string, raw: boolean): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), "paddock-bench-pull-"));
  try {
    return await timed(async () => {
      const quiet = { stdio: "ignore" } as const;
      execFileSync(
        "skopeo",
        ["copy", "--src-tls-verify=false", `docker://${ref}`, `oci:${dir}/layout:img`],
        quiet,
      );
      if (raw)
        execFileSync(
          "umoci",
          ["raw", "unpack", "--image", `${dir}/layout:img`, `${dir}/rootfs`],
          quiet,
        );
      else
        execFileSync("umoci", ["unpack", "--image", `${dir}/layout:img`, `${dir}/bundle`], quiet);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

benchMain(
  [],
  async (bench): Promise<Result> => {
    try {
      const big = await pushBigImage(registry);
      const images = new Images(bench.client);
      const paddock: number[] = [];
      const raw: number[] = [];
      const unpack: number[] = [];
      let sizeMiB = 0;
      // A first round of each, untimed, warms the registry's page cache and the tools.
      await byHand(big.ref, true);
      for (let i = 0; i <= RUNS; i++) {
        if (bench.signal.aborted) throw bench.signal.reason;
        await images.remove(big.ref).catch(() => {});
        const ms = await timed(async () => {
          sizeMiB = ((await images.pull(big.ref)).sizeBytes ?? 0) / 2 ** 20;
        });
        const r = await byHand(big.ref, true);
        const u = await byHand(big.ref, false);
        if (i === 0) continue;
        paddock.push(ms);
        raw.push(r);
        unpack.push(u);
        process.stderr.write(
          `run ${i}: paddock ${ms.toFixed(0)} ms, by hand ${r.toFixed(0)} ms (umoci unpack: ${u.toFixed(0)} ms)\n`,
        );
      }
      const again: number[] = [];
      for (let i = 0; i < AGAIN_RUNS; i++)
        again.push(await timed(() => images.pull(big.digestRef)));
      await images.remove(big.ref).catch(() => {});
      const p = stats(paddock);
      const byHandRaw = stats(raw);
      const a = stats(again);
      const r = ratio(p.p50, byHandRaw.p50);
      return {
        image: big.ref,
        sizeMiB: Math.round(sizeMiB),
        paddock: p,
        byHandRaw,
        byHandUnpack: stats(unpack),
        ratio: r,
        again: a,
        pass: r <= TARGET_RATIO && a.p50 < TARGET_AGAIN_MS,
      };
    } finally {
      await registry.stop();
    }
  },
  async (r) => {
    printTable(
      [
        ["what", "p50", "p95", "target", ""],
        [
          "paddock image pull (empty store)",
          `${r.paddock.p50.toFixed(0)} ms`,
          `${r.paddock.p95.toFixed(0)} ms`,
          "",
          "",
        ],
        [
          "skopeo copy + umoci raw unpack",
          `${r.byHandRaw.p50.toFixed(0)} ms`,
          `${r.byHandRaw.p95.toFixed(0)} ms`,
          "",
          "",
        ],
        [
          "skopeo copy + umoci unpack",
          `${r.byHandUnpack.p50.toFixed(0)} ms`,
          `${r.byHandUnpack.p95.toFixed(0)} ms`,
          "",
          "",
        ],
        [
          "ratio (paddock / raw by hand)",
          `${r.ratio.toFixed(2)}x`,
          "",
          `<= ${TARGET_RATIO}x`,
          passMiss(r.ratio <= TARGET_RATIO),
        ],
        [
          "pull of the stored digest",
          `${r.again.p50.toFixed(1)} ms`,
          `${r.again.p95.toFixed(1)} ms`,
          `< ${TARGET_AGAIN_MS} ms`,
          passMiss(r.again.p50 < TARGET_AGAIN_MS),
        ],
      ],
      [
        `${r.image}: ${r.sizeMiB} MiB unpacked, 3 layers of 33 MiB of random data on busybox, from a loopback docker-registry (plain HTTP)`,
        `${RUNS} interleaved runs after one warm-up; paddock's pull removes the image (and its blobs) first, and includes the SDK's HTTP stream, resolving the manifest (skopeo inspect --raw) and du`,
        `umoci unpack also writes an mtree manifest of the tree, which Paddock does not need (it uses raw unpack)`,
      ],
    );
    await writeResults("pull", { runs: RUNS, againRuns: AGAIN_RUNS, ...r });
  },
);
