/**
 * Port tunnel: per-request latency (GET of a small page, a fresh connection each) and download
 * throughput (a 64 MiB file) through `sandbox.exposePort` to busybox httpd on the sandbox's
 * loopback, beside a direct loopback connection to busybox httpd on the host serving the same
 * kind of files, for runc and runsc, interleaved in one run. Needs root and a build; run with
 * `npm run bench -- ports`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Sandbox } from "paddock";
import type { Runtime } from "./lib/daemon.js";
import { benchMain, type Bench } from "./lib/main.js";
import { printTable, writeResults } from "./lib/report.js";
import { percentile, ratio, round1, stats, timed, type Stats } from "./lib/stats.js";

const IMAGE = "busybox";
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const SANDBOX_PORT = 8080;
const BIG_MIB = 64;
const BIG_BYTES = BIG_MIB << 20;
const INDEX = "<!doctype html>\n<title>paddock</title>\n<p>hello from busybox httpd</p>\n";
const LATENCY_RUNS = 200;
const LATENCY_WARMUP = 10;
const THROUGHPUT_RUNS = 5;
const THROUGHPUT_WARMUP = 1;
const BUSYBOX = "/bin/busybox";
/**
 * A request that fails (a body cut short, a reset) is counted and made again, at most this many
 * times in a row: the tunnel is known to drop the tail of a response now and then, and the
 * benchmark reports how often rather than stopping at the first.
 */
const RETRIES = 3;

/** Where one side's httpd answers: a base URL and the headers every request needs. */
interface Server {
  base: string;
  headers: Record<string, string>;
}

interface Result {
  runtime: Runtime;
  tunnelLatency: Stats;
  directLatency: Stats;
  /** tunnel p50 / direct p50. */
  latencyRatio: number;
  tunnelMiBps: number;
  directMiBps: number;
  /** tunnel / direct median throughput. */
  throughputRatio: number;
  tunnelMiBpsSamples: number[];
  directMiBpsSamples: number[];
  /** Requests made on each side, retries included, and why those that failed did. */
  requests: { tunnel: number; direct: number };
  failures: { tunnel: string[]; direct: string[] };
}

type Side = "tunnel" | "direct";
type Tally = Pick<Result, "requests" | "failures">;

/**
 * One GET on a fresh connection (no keep-alive agent), the body read to its end; rejects unless
 * it is a 200 of `bytes` bytes. Returns the body when `keep`.
 */
function get(server: Server, file: string, bytes: number, keep = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.base}/${file}`, { agent: false, headers: server.headers });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      res.on("data", (chunk: Buffer) => {
        got += chunk.length;
        if (keep) chunks.push(chunk);
      });
      const fail = (why: string) =>
        reject(new Error(`GET /${file}: ${why} after ${got} of ${bytes} bytes`));
      res.on("error", (err) => fail(err.message));
      res.on("end", () =>
        res.statusCode === 200 && got === bytes
          ? resolve(Buffer.concat(chunks).toString("utf8"))
          : fail(`status ${res.statusCode}`),
      );
    });
  });
}

const getIndex = (server: Server) => get(server, "index.html", Buffer.byteLength(INDEX));
const getBig = (server: Server) => get(server, "big.bin", BIG_BYTES);

/** A port nobody listens on now on 127.0.0.1 (the kernel's pick, released again). */
async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Resolves once something accepts connections on 127.0.0.1:port; rejects after `timeoutMs`. */
async function waitForHostPort(port: number, child: ChildProcess, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`host httpd exited with ${child.exitCode}`);
    const socket = net.connect(port, "127.0.0.1");
    const ok = await new Promise<boolean>((resolve) => {
      socket.once("connect", () => resolve(true)).once("error", () => resolve(false));
    });
    socket.destroy();
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`host httpd not listening on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Host busybox httpd on a free loopback port, serving a 64 MiB random file and INDEX. */
async function startHostHttpd(dir: string): Promise<{ server: Server; child: ChildProcess }> {
  await writeFile(path.join(dir, "index.html"), INDEX);
  await writeFile(path.join(dir, "big.bin"), randomBytes(BIG_BYTES));
  const port = await freePort();
  const child = spawn(BUSYBOX, ["httpd", "-f", "-p", `127.0.0.1:${port}`, "-h", dir], {
    stdio: "ignore",
  });
  child.on("error", () => {});
  try {
    await waitForHostPort(port, child);
  } catch (err) {
    child.kill();
    throw err;
  }
  return { server: { base: `http://127.0.0.1:${port}`, headers: {} }, child };
}

/** Runs a shell command line in the sandbox to its end (set-up, never timed). */
async function sh(sandbox: Sandbox, script: string): Promise<void> {
  const out = await (await sandbox.process.run(script)).output();
  if (out.exitCode !== 0) throw new Error(`${script}: exit ${out.exitCode}: ${out.stderr}`);
}

/** A busybox sandbox with httpd on its loopback serving /www, exposed on the host. */
async function startSandboxHttpd(bench: Bench, runtime: Runtime) {
  const sandbox = await bench.create({ runtime, image: IMAGE, timeoutSeconds: 900 });
  await sandbox.fs.writeFile("/www/index.html", INDEX);
  await sh(sandbox, `head -c ${BIG_BYTES} /dev/urandom > /www/big.bin`);
  await sandbox.process.exec(["httpd", "-f", "-p", `127.0.0.1:${SANDBOX_PORT}`, "-h", "/www"], {
    background: true,
    tag: "httpd",
  });
  await sandbox.process.waitForPort(SANDBOX_PORT, { timeoutMs: 10_000 });
  const exposed = await sandbox.exposePort(SANDBOX_PORT);
  const headers: Record<string, string> = exposed.token
    ? { "x-paddock-port-token": exposed.token }
    : {};
  return { sandbox, server: { base: exposed.url.replace(/\/$/, ""), headers } };
}

/** Milliseconds of the first attempt of `fn` that succeeds; each attempt is tallied. */
async function timeRetrying(side: Side, tally: Tally, fn: () => Promise<unknown>) {
  for (let attempt = 0; ; attempt++) {
    tally.requests[side]++;
    try {
      return await timed(fn);
    } catch (err) {
      tally.failures[side].push((err as Error).message);
      if (attempt >= RETRIES) throw err;
    }
  }
}

/** Times one request on each side, the one first alternating by round, so neither is always warmer. */
async function timePair(
  round: number,
  tally: Tally,
  fns: Record<Side, () => Promise<unknown>>,
): Promise<Record<Side, number>> {
  const ms = { tunnel: 0, direct: 0 };
  const order: Side[] = round % 2 === 0 ? ["tunnel", "direct"] : ["direct", "tunnel"];
  for (const side of order) ms[side] = await timeRetrying(side, tally, fns[side]);
  return ms;
}

async function measureRuntime(bench: Bench, runtime: Runtime, direct: Server): Promise<Result> {
  const { sandbox, server: tunnel } = await startSandboxHttpd(bench, runtime);
  const page = await get(tunnel, "index.html", Buffer.byteLength(INDEX), true);
  if (page !== INDEX) throw new Error(`the tunnel served ${JSON.stringify(page)}`);

  const tally: Tally = { requests: { tunnel: 0, direct: 0 }, failures: { tunnel: [], direct: [] } };
  const latency = { tunnel: [] as number[], direct: [] as number[] };
  for (let i = 0; i < LATENCY_WARMUP + LATENCY_RUNS; i++) {
    bench.signal.throwIfAborted();
    const ms = await timePair(i, tally, {
      tunnel: () => getIndex(tunnel),
      direct: () => getIndex(direct),
    });
    if (i < LATENCY_WARMUP) continue;
    latency.tunnel.push(ms.tunnel);
    latency.direct.push(ms.direct);
  }
  const mibps = (ms: number) => round1(BIG_MIB / (ms / 1000));
  const throughput = { tunnel: [] as number[], direct: [] as number[] };
  for (let i = 0; i < THROUGHPUT_WARMUP + THROUGHPUT_RUNS; i++) {
    bench.signal.throwIfAborted();
    const ms = await timePair(i, tally, {
      tunnel: () => getBig(tunnel),
      direct: () => getBig(direct),
    });
    const keep = i >= THROUGHPUT_WARMUP;
    if (keep) {
      throughput.tunnel.push(mibps(ms.tunnel));
      throughput.direct.push(mibps(ms.direct));
    }
    process.stderr.write(
      `${runtime} ${keep ? `download ${i - THROUGHPUT_WARMUP + 1}/${THROUGHPUT_RUNS}` : "warm-up download"}: tunnel ${mibps(ms.tunnel)} MiB/s, direct ${mibps(ms.direct)} MiB/s\n`,
    );
  }
  await bench.terminate(sandbox);

  const tunnelLatency = stats(latency.tunnel);
  const directLatency = stats(latency.direct);
  const tunnelMiBps = percentile(throughput.tunnel, 50);
  const directMiBps = percentile(throughput.direct, 50);
  process.stderr.write(
    `${runtime}: latency p50 tunnel ${tunnelLatency.p50} ms, direct ${directLatency.p50} ms\n`,
  );
  return {
    runtime,
    tunnelLatency,
    directLatency,
    latencyRatio: ratio(tunnelLatency.p50, directLatency.p50),
    tunnelMiBps,
    directMiBps,
    throughputRatio: ratio(tunnelMiBps, directMiBps),
    tunnelMiBpsSamples: throughput.tunnel,
    directMiBpsSamples: throughput.direct,
    ...tally,
  };
}

benchMain(
  [IMAGE],
  async (bench) => {
    const dir = await mkdtemp(path.join(tmpdir(), "paddock-bench-ports-"));
    let child: ChildProcess | undefined;
    try {
      const host = await startHostHttpd(dir);
      child = host.child;
      const results: Result[] = [];
      for (const runtime of RUNTIMES)
        results.push(await measureRuntime(bench, runtime, host.server));
      return results;
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill();
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    }
  },
  async (results) => {
    const ms = (n: number) => `${n.toFixed(1)} ms`;
    const rate = (n: number) => `${n.toFixed(1)} MiB/s`;
    const failed = (r: Result, side: Side) => `${r.failures[side].length}/${r.requests[side]}`;
    printTable(
      [
        [
          "runtime",
          "tunnel p50",
          "tunnel p95",
          "direct p50",
          "direct p95",
          "p50 ratio",
          "tunnel",
          "direct",
          "ratio",
          "failed (tunnel, direct)",
        ],
        ...results.map((r) => [
          r.runtime,
          ms(r.tunnelLatency.p50),
          ms(r.tunnelLatency.p95),
          ms(r.directLatency.p50),
          ms(r.directLatency.p95),
          `${r.latencyRatio.toFixed(2)}x`,
          rate(r.tunnelMiBps),
          rate(r.directMiBps),
          `${r.throughputRatio.toFixed(2)}x`,
          `${failed(r, "tunnel")}, ${failed(r, "direct")}`,
        ]),
      ],
      [
        `latency = GET /index.html (${Buffer.byteLength(INDEX)} B) on a fresh connection, body read fully; ${LATENCY_RUNS} interleaved requests after ${LATENCY_WARMUP} warm-ups`,
        `throughput = GET /big.bin (${BIG_MIB} MiB random), median of ${THROUGHPUT_RUNS} interleaved downloads after ${THROUGHPUT_WARMUP} warm-up`,
        `tunnel = sandbox.exposePort(${SANDBOX_PORT}) to busybox httpd on the sandbox's loopback; direct = host ${BUSYBOX} httpd on 127.0.0.1; ratios = tunnel / direct`,
        `failed = requests that failed and were made again (at most ${RETRIES} retries in a row) / all requests made, warm-ups included`,
        ...results.flatMap((r) =>
          (["tunnel", "direct"] as const)
            .filter((side) => r.failures[side].length > 0)
            .map((side) => `${r.runtime} ${side} failures: ${r.failures[side].join("; ")}`),
        ),
      ],
    );
    await writeResults("ports", {
      image: IMAGE,
      bigMiB: BIG_MIB,
      latencyRuns: LATENCY_RUNS,
      latencyWarmup: LATENCY_WARMUP,
      throughputRuns: THROUGHPUT_RUNS,
      throughputWarmup: THROUGHPUT_WARMUP,
      results,
    });
  },
);
