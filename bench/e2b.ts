/**
 * The e2b SDK against the daemon's E2B API beside Paddock's own SDK, in one run on one daemon:
 * create until the first command returns, a `true` round trip, and 1,000 writes of 4 KiB, per
 * runtime, the two SDKs interleaved. Target: the e2b SDK within 1.5x of Paddock's. Needs root
 * and a build; run with `npm run bench -- e2b`.
 */
import { createServer } from "node:net";
import { Sandbox as E2bSandbox } from "e2b";
import type { Sandbox } from "paddock";
import type { Runtime } from "./lib/daemon.js";
import { benchMain, type Bench } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { ratio, stats, timed, type Stats } from "./lib/stats.js";

const RUNTIMES: Runtime[] = ["runc", "runsc"];
const CREATES = 5;
const ROUND_TRIPS = 100;
const WARMUP = 10;
const WRITES = 1000;
const WRITE_BYTES = 4096;
const TARGET_RATIO = 1.5;

/** A port nobody listens on now, for the daemon's E2B API. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Row {
  runtime: Runtime;
  measure: string;
  paddock: Stats;
  e2b: Stats;
  /** e2b p50 / paddock p50 */
  ratio: number;
  /** Null for a row shown for comparison only. */
  pass: boolean | null;
}

const row = (
  runtime: Runtime,
  measure: string,
  paddock: number[],
  e2b: number[],
  target = true,
): Row => {
  const p = stats(paddock);
  const e = stats(e2b);
  const r = ratio(e.p50, p.p50);
  process.stderr.write(`${runtime} ${measure}: paddock p50 ${p.p50} ms, e2b p50 ${e.p50} ms\n`);
  return {
    runtime,
    measure,
    paddock: p,
    e2b: e,
    ratio: r,
    pass: target ? r <= TARGET_RATIO : null,
  };
};

async function writeMany(write: (path: string, data: Uint8Array) => Promise<unknown>) {
  const data = new Uint8Array(WRITE_BYTES).fill(97);
  for (let i = 0; i < WRITES; i++) await write(`/tmp/w/${i}`, data);
}

async function measureRuntime(bench: Bench, runtime: Runtime): Promise<Row[]> {
  const paddockRun = async (s: Sandbox, argv: string[], user?: string) => {
    const exit = await (await s.process.exec(argv, { user })).wait();
    if (exit.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${JSON.stringify(exit)}`);
  };
  const paddockTrue = (s: Sandbox) => paddockRun(s, ["true"]);
  // What the e2b SDK's commands.run("true") runs: a login shell, as the template's user.
  const paddockLoginTrue = (s: Sandbox) => paddockRun(s, ["/bin/bash", "-l", "-c", "true"], "user");
  const e2bCreate = () => E2bSandbox.create({ metadata: { "paddock.runtime": runtime } });
  const create = { paddock: [] as number[], e2b: [] as number[] };
  for (let i = 0; i < CREATES; i++) {
    bench.signal.throwIfAborted();
    let p: Sandbox | undefined;
    create.paddock.push(
      await timed(async () => {
        p = await bench.create({ runtime, image: "debian" });
        await paddockTrue(p);
      }),
    );
    await bench.terminate(p!);
    let e: E2bSandbox | undefined;
    create.e2b.push(
      await timed(async () => {
        e = await e2bCreate();
        await e.commands.run("true");
      }),
    );
    await e!.kill();
  }

  const p = await bench.create({ runtime, image: "debian" });
  const e = await e2bCreate();
  try {
    // The user the e2b SDK runs as, in Paddock's sandbox too.
    await paddockRun(p, ["useradd", "--create-home", "--shell", "/bin/bash", "user"], "root");
    const trip = { paddock: [] as number[], login: [] as number[], e2b: [] as number[] };
    for (let i = 0; i < WARMUP; i++) {
      await paddockTrue(p);
      await paddockLoginTrue(p);
      await e.commands.run("true");
    }
    for (let i = 0; i < ROUND_TRIPS; i++) {
      bench.signal.throwIfAborted();
      trip.paddock.push(await timed(() => paddockTrue(p)));
      trip.login.push(await timed(() => paddockLoginTrue(p)));
      trip.e2b.push(await timed(() => e.commands.run("true")));
    }
    const writes = { paddock: [] as number[], e2b: [] as number[] };
    for (let i = 0; i < 2; i++) {
      writes.paddock.push(await timed(() => writeMany((path, d) => p.fs.writeFile(path, d))));
      writes.e2b.push(
        await timed(() => writeMany((path, d) => e.files.write(path, d.buffer as ArrayBuffer))),
      );
    }
    return [
      row(runtime, "create until the first command returns", create.paddock, create.e2b),
      row(runtime, "run true (both: bash -l -c true)", trip.login, trip.e2b),
      row(runtime, "run true (paddock: exec true)", trip.paddock, trip.e2b, false),
      row(runtime, `${WRITES} x 4 KiB writes`, writes.paddock, writes.e2b),
    ];
  } finally {
    await bench.terminate(p);
    await e.kill();
  }
}

const port = await freePort();
benchMain(
  ["debian"],
  async (bench) => {
    process.env.E2B_API_URL = `http://127.0.0.1:${port}/e2b`;
    process.env.E2B_SANDBOX_URL = `http://127.0.0.1:${port}/e2b/envd`;
    process.env.E2B_API_KEY = bench.client.token;
    const rows: Row[] = [];
    for (const runtime of RUNTIMES) rows.push(...(await measureRuntime(bench, runtime)));
    return rows;
  },
  async (rows) => {
    printTable(
      [
        ["runtime", "measure", "paddock p50", "e2b p50", "e2b p95", "ratio", "target", ""],
        ...rows.map((r) => [
          r.runtime,
          r.measure,
          `${r.paddock.p50.toFixed(1)} ms`,
          `${r.e2b.p50.toFixed(1)} ms`,
          `${r.e2b.p95.toFixed(1)} ms`,
          `${r.ratio.toFixed(2)}x`,
          r.pass === null ? "" : `<= ${TARGET_RATIO}x`,
          r.pass === null ? "(info)" : passMiss(r.pass),
        ]),
      ],
      [
        `paddock = Paddock's SDK (image debian, exec("true"), fs.writeFile); e2b = the e2b SDK through the daemon's E2B API (template base: debian with the user \`user\` added at create, commands.run("true") = bash -l -c true as user, files.write)`,
        `create: ${CREATES} each, interleaved, until the first command returned; round trip: ${ROUND_TRIPS} interleaved after ${WARMUP} warm-ups; writes: ${WRITES} sequential 4 KiB files, twice each`,
        "ratio = e2b p50 / paddock p50",
      ],
    );
    await writeResults("e2b", { creates: CREATES, roundTrips: ROUND_TRIPS, writes: WRITES, rows });
  },
  async () => ({ daemonEnv: { PADDOCK_E2B_PORT: String(port) }, stop: async () => {} }),
);
