/**
 * File transfer: a 256 MiB upload with `sandbox.fs.uploadFile` beside `<runtime> exec <id> sh -c
 * 'cat > f'` fed the same file (runsc, and runc as an extra row), and 1,000 files of 4 KiB with
 * one `sandbox.fs.uploadFiles` beside the per-file way (mkdir -p, cat >, chmod: an exec each),
 * all into the same sandbox and interleaved in one run. Needs root and a build; run with
 * `npm run bench -- files`.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Sandbox } from "paddock";
import { run } from "./lib/command.js";
import { sandboxRuntimeArgs, type Runtime } from "./lib/daemon.js";
import { benchMain, type Bench } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { percentile, ratio, timed } from "./lib/stats.js";

const IMAGE = "busybox";
const MEMORY_MIB = 2048;
const UPLOAD_MIB = 256;
const UPLOAD_ROUNDS = 5;
/** The target: Paddock's upload at least this fraction of the raw exec's throughput. */
const TARGET_UPLOAD_RATIO = 0.8;
const BATCH_FILES = 1000;
const BATCH_FILE_BYTES = 4096;
const BATCH_ROUNDS = 3;
/** The per-file way costs three execs a file (~100 s for 1,000), so it is timed on this many. */
const PER_FILE_SAMPLE = 50;
/** The targets for the batch: this many times faster than per-file, and under 1 s. */
const TARGET_BATCH_SPEEDUP = 100;
const TARGET_BATCH_MS = 1000;

interface UploadResult {
  runtime: Runtime;
  /** Only runsc is the target; runc is measured alongside. */
  extra: boolean;
  paddockMiBps: number;
  rawMiBps: number;
  ratio: number;
  pass: boolean;
  paddockMs: number[];
  rawMs: number[];
}

interface BatchResult {
  runtime: Runtime;
  batchMs: number;
  /** The per-file way for all files: the sample's time scaled linearly. */
  perFileMs: number;
  speedup: number;
  pass: boolean;
  batchSamplesMs: number[];
  perFileSampleMs: number[];
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Runs a command in the sandbox through the SDK (set-up and cleanup, never timed). */
async function sh(sandbox: Sandbox, script: string): Promise<string> {
  const out = await (await sandbox.process.exec("sh", "-c", script)).output();
  if (out.exitCode !== 0) throw new Error(`${script}: exit ${out.exitCode}: ${out.stderr}`);
  return out.stdout;
}

async function expectSize(sandbox: Sandbox, file: string, size: number): Promise<void> {
  const st = await sandbox.fs.statFile(file);
  if (st.size !== size) throw new Error(`${file} is ${st.size} bytes, not ${size}`);
}

/** A file of random bytes on the host, written once in 16 MiB pieces. */
async function randomFile(file: string, mib: number): Promise<void> {
  const fh = await open(file, "w");
  try {
    for (let done = 0; done < mib; done += 16) await fh.write(randomBytes(16 << 20));
  } finally {
    await fh.close();
  }
}

async function uploads(
  bench: Bench,
  runtime: Runtime,
  sandbox: Sandbox,
  local: string,
): Promise<UploadResult> {
  const raw = [...sandboxRuntimeArgs(bench.daemon, runtime, sandbox.id), "exec", sandbox.id];
  const size = UPLOAD_MIB << 20;
  const paddockMs: number[] = [];
  const rawMs: number[] = [];
  for (let i = 0; i < UPLOAD_ROUNDS; i++) {
    bench.signal.throwIfAborted();
    const paddock = async () =>
      paddockMs.push(await timed(() => sandbox.fs.uploadFile(local, "/tmp/up.bin")));
    const viaExec = async () =>
      rawMs.push(
        await timed(() =>
          run(runtime, [...raw, "sh", "-c", "cat > /tmp/raw.bin"], { stdinFile: local }),
        ),
      );
    // Interleaved, and which goes first alternates, so neither side always gets the warmer cache.
    for (const side of i % 2 === 0 ? [paddock, viaExec] : [viaExec, paddock]) await side();
    await expectSize(sandbox, "/tmp/up.bin", size);
    await expectSize(sandbox, "/tmp/raw.bin", size);
    await sh(sandbox, "rm -f /tmp/up.bin /tmp/raw.bin");
    process.stderr.write(
      `${runtime} upload ${i + 1}/${UPLOAD_ROUNDS}: paddock ${paddockMs.at(-1)!.toFixed(0)} ms, ${runtime} exec ${rawMs.at(-1)!.toFixed(0)} ms\n`,
    );
  }
  const mibps = (ms: number) => round1(UPLOAD_MIB / (ms / 1000));
  const paddockMiBps = mibps(percentile(paddockMs, 50));
  const rawMiBps = mibps(percentile(rawMs, 50));
  const r = ratio(paddockMiBps, rawMiBps);
  return {
    runtime,
    extra: runtime !== "runsc",
    paddockMiBps,
    rawMiBps,
    ratio: r,
    pass: r >= TARGET_UPLOAD_RATIO,
    paddockMs: paddockMs.map(round1),
    rawMs: rawMs.map(round1),
  };
}

async function batches(bench: Bench, runtime: Runtime, sandbox: Sandbox): Promise<BatchResult> {
  const raw = [...sandboxRuntimeArgs(bench.daemon, runtime, sandbox.id), "exec", sandbox.id];
  const files = Array.from({ length: BATCH_FILES }, (_, i) => ({
    dir: `d${i % 10}`,
    name: `f${i}`,
    source: randomBytes(BATCH_FILE_BYTES),
  }));
  const batch = files.map((f) => ({ path: `/batch/${f.dir}/${f.name}`, source: f.source }));
  const batchMs: number[] = [];
  const sampleMs: number[] = [];
  for (let i = 0; i < BATCH_ROUNDS; i++) {
    bench.signal.throwIfAborted();
    let results: Awaited<ReturnType<Sandbox["fs"]["uploadFiles"]>> = [];
    batchMs.push(await timed(async () => (results = await sandbox.fs.uploadFiles(batch))));
    const failed = results.filter((r) => !r.ok);
    if (results.length !== BATCH_FILES || failed.length > 0)
      throw new Error(`batch: ${results.length} results, ${failed.length} failed`);

    // The per-file way, each step its own exec of the runtime, as a script without an agent would.
    sampleMs.push(
      await timed(async () => {
        for (const f of files.slice(0, PER_FILE_SAMPLE)) {
          const dir = `/perfile/${f.dir}`;
          const file = `${dir}/${f.name}`;
          await run(runtime, [...raw, "mkdir", "-p", dir]);
          await run(runtime, [...raw, "sh", "-c", `cat > ${file}`], { stdin: f.source });
          await run(runtime, [...raw, "chmod", "644", file]);
        }
      }),
    );
    const counts = await sh(sandbox, "find /batch -type f | wc -l; find /perfile -type f | wc -l");
    if (counts.split(/\s+/).filter(Boolean).join(" ") !== `${BATCH_FILES} ${PER_FILE_SAMPLE}`)
      throw new Error(`expected ${BATCH_FILES} and ${PER_FILE_SAMPLE} files, found ${counts}`);
    await sh(sandbox, "rm -rf /batch /perfile");
    process.stderr.write(
      `${runtime} batch ${i + 1}/${BATCH_ROUNDS}: ${BATCH_FILES} files in ${batchMs.at(-1)!.toFixed(0)} ms; per-file ${PER_FILE_SAMPLE} files in ${sampleMs.at(-1)!.toFixed(0)} ms\n`,
    );
  }
  const batchMedian = round1(percentile(batchMs, 50));
  const perFileMs = round1(percentile(sampleMs, 50) * (BATCH_FILES / PER_FILE_SAMPLE));
  const speedup = round1(perFileMs / batchMedian);
  return {
    runtime,
    batchMs: batchMedian,
    perFileMs,
    speedup,
    pass: speedup >= TARGET_BATCH_SPEEDUP && batchMedian < TARGET_BATCH_MS,
    batchSamplesMs: batchMs.map(round1),
    perFileSampleMs: sampleMs.map(round1),
  };
}

benchMain(
  [IMAGE],
  async (bench) => {
    const tmp = await mkdtemp(path.join(tmpdir(), "paddock-bench-files-"));
    try {
      const local = path.join(tmp, "up.bin");
      await randomFile(local, UPLOAD_MIB);
      const upload: UploadResult[] = [];
      let batch: BatchResult | undefined;
      for (const runtime of ["runsc", "runc"] as const) {
        const sandbox = await bench.create({
          runtime,
          image: IMAGE,
          memoryMiB: MEMORY_MIB,
          timeoutSeconds: 900,
        });
        upload.push(await uploads(bench, runtime, sandbox, local));
        if (runtime === "runsc") batch = await batches(bench, runtime, sandbox);
        await bench.terminate(sandbox);
      }
      return { upload, batch: batch! };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
  async ({ upload, batch }) => {
    printTable(
      [
        ["upload", "paddock", "exec cat >", "ratio", "target", ""],
        ...upload.map((u) => [
          `${UPLOAD_MIB} MiB into ${u.runtime}`,
          `${u.paddockMiBps.toFixed(1)} MiB/s`,
          `${u.rawMiBps.toFixed(1)} MiB/s`,
          `${u.ratio.toFixed(2)}x`,
          `>= ${TARGET_UPLOAD_RATIO}x`,
          u.extra ? `${passMiss(u.pass)} (extra)` : passMiss(u.pass),
        ]),
      ],
      [
        `paddock = sandbox.fs.uploadFile(path, "/tmp/up.bin"); exec cat > = \`<runtime> <daemon's flags> exec <id> sh -c 'cat > /tmp/raw.bin'\` with the file on stdin`,
        `median of ${UPLOAD_ROUNDS} interleaved rounds, same random file, same sandbox (memoryMiB ${MEMORY_MIB}); ratio = paddock / exec throughput; runc is an extra row, not the issue's target`,
        "",
      ],
    );
    printTable(
      [
        ["batch (runsc)", "uploadFiles", "per-file execs", "speedup", "target", ""],
        [
          `${BATCH_FILES} x ${BATCH_FILE_BYTES / 1024} KiB`,
          `${batch.batchMs.toFixed(1)} ms`,
          `${(batch.perFileMs / 1000).toFixed(1)} s (extrapolated)`,
          `${batch.speedup.toFixed(1)}x`,
          `>= ${TARGET_BATCH_SPEEDUP}x, < ${TARGET_BATCH_MS / 1000} s`,
          passMiss(batch.pass),
        ],
      ],
      [
        `uploadFiles = one sandbox.fs.uploadFiles of ${BATCH_FILES} Buffers to /batch/d<i%10>/f<i>; per-file = \`runsc exec\` of mkdir -p, sh -c 'cat > f' (bytes on stdin), chmod 644 per file`,
        `per-file timed on ${PER_FILE_SAMPLE} files and scaled linearly to ${BATCH_FILES} (x${BATCH_FILES / PER_FILE_SAMPLE}); medians of ${BATCH_ROUNDS} interleaved rounds`,
      ],
    );
    await writeResults("files", {
      image: IMAGE,
      memoryMiB: MEMORY_MIB,
      uploadMiB: UPLOAD_MIB,
      uploadRounds: UPLOAD_ROUNDS,
      batchFiles: BATCH_FILES,
      batchFileBytes: BATCH_FILE_BYTES,
      batchRounds: BATCH_ROUNDS,
      perFileSample: PER_FILE_SAMPLE,
      upload,
      batch,
    });
  },
);
