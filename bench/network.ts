/**
 * Sandbox networking: download throughput of a 256 MiB file from a fake-internet server into a
 * sandbox with egress "all" (two clients, timed inside the sandbox: busybox wget, and Python
 * reading the socket 1 MiB at a time), beside the same client in the daemon's router namespace
 * itself, interleaved in one run; and `Sandbox.create` (until the
 * agent answers) with egress "all" beside egress "none", interleaved. runc and runsc. Every packet
 * stays on this machine: the daemon's router is a namespace whose only route out is the test
 * network's fake internet (tests/helpers/net.ts). Needs root and a build; run with
 * `npm run bench -- network`. `PADDOCK_BENCH_NETWORK=create` measures only the creates (no
 * downloads, no debian image); `PADDOCK_BENCH_NETWORK_RUNTIMES=runc` (comma-separated) limits
 * the runtimes; `PADDOCK_BENCH_NETWORK_PAIRS=N` measures N create pairs instead of 15 (a busy
 * machine needs more).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Sandbox } from "paddock";
import { FAKE_HOSTS, startFakeInternet, type FakeInternet } from "../tests/helpers/net.js";
import type { Runtime } from "./lib/daemon.js";
import { benchMain, timeCreate, type Bench } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { percentile, ratio, round1, stats, type Stats } from "./lib/stats.js";

const IMAGE = "busybox";
const BUSYBOX = "/bin/busybox";
const RUNTIMES = (process.env.PADDOCK_BENCH_NETWORK_RUNTIMES ?? "runc,runsc")
  .split(",")
  .map((r) => r.trim())
  .filter((r): r is Runtime => r === "runc" || r === "runsc");
const CREATE_ONLY = process.env.PADDOCK_BENCH_NETWORK === "create";
const BIG_MIB = 256;
const URL_BIG = `http://${FAKE_HOSTS.allowed}/big.bin`;
const DOWNLOAD_RUNS = 5;
const DOWNLOAD_WARMUP = 1;
const CREATE_RUNS = Number(process.env.PADDOCK_BENCH_NETWORK_PAIRS ?? 15);
const CREATE_WARMUP = 2;
/** The issue's targets: sandbox / router throughput, and create's p50 with egress all over none. */
const TARGET_RATIO: Record<Runtime, number> = { runc: 0.7, runsc: 0.3 };
const TARGET_CREATE_DELTA_MS = 30;

const execFileAsync = promisify(execFile);

interface Download {
  client: Client["name"];
  sandboxMiBps: number;
  routerMiBps: number;
  /** sandbox / router median throughput. */
  ratio: number;
  sandboxMiBpsSamples: number[];
  routerMiBpsSamples: number[];
}

interface Result {
  runtime: Runtime;
  downloads: Download[];
  createAll: Stats;
  createNone: Stats;
  /** p50 (all) - p50 (none). */
  createDeltaP50: number;
  /** The median of (all - none) over the interleaved pairs. */
  createPairedP50: number;
}

/** Seconds from busybox `time`'s "real 0m 1.23s" (10 ms resolution). */
function realSeconds(stderr: string): number {
  const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(stderr);
  if (!m) throw new Error(`no timing in ${JSON.stringify(stderr)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/**
 * A GET over a plain socket read with 1 MiB recv_into calls, timed by the monotonic clock from the
 * connect to the end; prints "BYTES SECONDS". busybox wget reads 4 KiB at a time, and under gVisor
 * each read is a costly system call: this client shows what the network path itself carries.
 */
const PY_GET = `
import socket, sys, time
host, path = sys.argv[1], sys.argv[2]
view = memoryview(bytearray(1 << 20))
start = time.monotonic()
s = socket.create_connection((host, 80))
s.sendall(("GET %s HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" % (path, host)).encode())
got = 0
while True:
    n = s.recv_into(view)
    if not n:
        break
    got += n
print(got, time.monotonic() - start)
`;

/** Seconds from PY_GET's output, checking the whole file (and its headers) came. */
function pySeconds(stdout: string): number {
  const [bytes, seconds] = stdout.trim().split(" ").map(Number);
  if (!(bytes! > BIG_MIB << 20)) throw new Error(`short download: ${stdout.trim()}`);
  return seconds!;
}

/** One HTTP client, run the same way in the sandbox and in the router namespace. */
interface Client {
  name: "wget" | "python";
  image: string;
  argv: string[];
  seconds(out: { stdout: string; stderr: string }): number;
}

const CLIENTS: Client[] = [
  {
    name: "wget",
    image: IMAGE,
    argv: [BUSYBOX, "time", BUSYBOX, "wget", "-q", "-O", "/dev/null", URL_BIG],
    seconds: (out) => realSeconds(out.stderr),
  },
  {
    name: "python",
    image: "debian",
    argv: ["/usr/bin/python3", "-c", PY_GET, FAKE_HOSTS.allowed, "/big.bin"],
    seconds: (out) => pySeconds(out.stdout),
  },
];

/** The download from the router namespace. */
async function routerDownload(internet: FakeInternet, client: Client): Promise<number> {
  const out = await execFileAsync("nsenter", [`--net=${internet.routerNetns}`, ...client.argv]);
  return client.seconds(out);
}

/** The same download inside the sandbox (busybox and debian have the same paths). */
async function sandboxDownload(sandbox: Sandbox, client: Client): Promise<number> {
  const out = await (await sandbox.process.exec(client.argv, { timeoutMs: 120_000 })).output();
  if (out.exitCode !== 0)
    throw new Error(`${client.name} in the sandbox: exit ${out.exitCode}: ${out.stderr}`);
  return client.seconds(out);
}

async function measureDownloads(
  bench: Bench,
  internet: FakeInternet,
  runtime: Runtime,
  client: Client,
) {
  const sandbox = await bench.create({ runtime, image: client.image, network: { egress: "all" } });
  const samples = { sandbox: [] as number[], router: [] as number[] };
  const mibps = (s: number) => round1(BIG_MIB / s);
  for (let i = 0; i < DOWNLOAD_WARMUP + DOWNLOAD_RUNS; i++) {
    bench.signal.throwIfAborted();
    // Alternating which goes first, so neither is always the warmer.
    let inside: number;
    let router: number;
    if (i % 2 === 0) {
      inside = await sandboxDownload(sandbox, client);
      router = await routerDownload(internet, client);
    } else {
      router = await routerDownload(internet, client);
      inside = await sandboxDownload(sandbox, client);
    }
    const keep = i >= DOWNLOAD_WARMUP;
    if (keep) {
      samples.sandbox.push(mibps(inside));
      samples.router.push(mibps(router));
    }
    process.stderr.write(
      `${runtime} ${client.name} ${keep ? `download ${i - DOWNLOAD_WARMUP + 1}/${DOWNLOAD_RUNS}` : "warm-up download"}: sandbox ${mibps(inside)} MiB/s, router ${mibps(router)} MiB/s\n`,
    );
  }
  await bench.terminate(sandbox);
  const sandboxMiBps = percentile(samples.sandbox, 50);
  const routerMiBps = percentile(samples.router, 50);
  return {
    client: client.name,
    sandboxMiBps,
    routerMiBps,
    ratio: ratio(sandboxMiBps, routerMiBps),
    sandboxMiBpsSamples: samples.sandbox,
    routerMiBpsSamples: samples.router,
  };
}

async function measureCreates(bench: Bench, runtime: Runtime) {
  const all: number[] = [];
  const none: number[] = [];
  const create = (egress: "all" | "none") =>
    timeCreate(bench, { runtime, image: IMAGE, network: { egress } });
  for (let i = 0; i < CREATE_WARMUP + CREATE_RUNS; i++) {
    bench.signal.throwIfAborted();
    let a: number;
    let n: number;
    if (i % 2 === 0) {
      a = await create("all");
      n = await create("none");
    } else {
      n = await create("none");
      a = await create("all");
    }
    if (i >= CREATE_WARMUP) {
      all.push(a);
      none.push(n);
    }
    process.stderr.write(
      `${runtime} ${i < CREATE_WARMUP ? "warm-up create" : `create ${i - CREATE_WARMUP + 1}/${CREATE_RUNS}`}: all ${a.toFixed(1)} ms, none ${n.toFixed(1)} ms\n`,
    );
  }
  return { all, none };
}

let internet: FakeInternet | undefined;

benchMain(
  CREATE_ONLY ? [IMAGE] : [...new Set(CLIENTS.map((c) => c.image))],
  async (bench) => {
    const results: Result[] = [];
    for (const runtime of RUNTIMES) {
      const downloads: Download[] = [];
      for (const client of CREATE_ONLY ? [] : CLIENTS)
        downloads.push(await measureDownloads(bench, internet!, runtime, client));
      const creates = await measureCreates(bench, runtime);
      const createAll = stats(creates.all);
      const createNone = stats(creates.none);
      results.push({
        runtime,
        downloads,
        createAll,
        createNone,
        createDeltaP50: round1(createAll.p50 - createNone.p50),
        createPairedP50: stats(creates.all.map((a, k) => a - creates.none[k]!)).p50,
      });
    }
    return results;
  },
  async (results) => {
    const rate = (n: number) => `${n.toFixed(1)} MiB/s`;
    const ms = (n: number) => `${n.toFixed(1)} ms`;
    const signed = (n: number) => `${n >= 0 ? "+" : ""}${n.toFixed(1)} ms`;
    if (!CREATE_ONLY)
      printTable(
        [
          ["runtime", "client", "sandbox", "router", "ratio", "target", ""],
          ...results.flatMap((r) =>
            r.downloads.map((d) => [
              r.runtime,
              d.client,
              rate(d.sandboxMiBps),
              rate(d.routerMiBps),
              `${d.ratio.toFixed(2)}x`,
              `>= ${TARGET_RATIO[r.runtime]}x`,
              passMiss(d.ratio >= TARGET_RATIO[r.runtime]),
            ]),
          ),
        ],
        [
          `throughput = a ${BIG_MIB} MiB random file from ${FAKE_HOSTS.allowed} (busybox httpd in the fake internet namespace); median of ${DOWNLOAD_RUNS} interleaved downloads after ${DOWNLOAD_WARMUP} warm-up`,
          `wget = busybox wget -O /dev/null (4 KiB reads) timed by busybox time (10 ms resolution), in a ${IMAGE} sandbox; python = a socket read with 1 MiB recv_into, timed inside, in a debian sandbox (the host's python3 3.11 in the router)`,
          `sandbox = inside a sandbox with egress "all" (veth, router forwarding, nftables, masquerade); router = the same client in the daemon's router namespace itself (where the host's root namespace would be in production); ratio = sandbox / router`,
        ],
      );
    console.log();
    printTable(
      [
        [
          "runtime",
          "create all p50",
          "create none p50",
          "p50 delta",
          "paired median",
          "target",
          "",
        ],
        ...results.map((r) => [
          r.runtime,
          ms(r.createAll.p50),
          ms(r.createNone.p50),
          signed(r.createDeltaP50),
          signed(r.createPairedP50),
          `<= +${TARGET_CREATE_DELTA_MS} ms`,
          passMiss(r.createDeltaP50 <= TARGET_CREATE_DELTA_MS),
        ]),
      ],
      [
        `create = Sandbox.create (${IMAGE}) until the agent answers, egress "all" vs "none", ${CREATE_RUNS} interleaved pairs after ${CREATE_WARMUP} warm-ups; paired median = the median of (all - none) over the pairs`,
      ],
    );
    await writeResults(CREATE_ONLY ? "network-create" : "network", {
      image: IMAGE,
      bigMiB: BIG_MIB,
      downloadRuns: DOWNLOAD_RUNS,
      downloadWarmup: DOWNLOAD_WARMUP,
      createRuns: CREATE_RUNS,
      createWarmup: CREATE_WARMUP,
      results,
    });
  },
  async () => {
    internet = await startFakeInternet({ bigFileMiB: CREATE_ONLY ? 0 : BIG_MIB });
    return { daemonEnv: internet.daemonEnv, stop: () => internet!.stop() };
  },
);
