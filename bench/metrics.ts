/**
 * Metrics: what `GET /metrics` costs the daemon. 20 idle runc busybox sandboxes (64 MiB each,
 * to keep the machine light; runc because the scrape reads the same cgroup and disk files for
 * either runtime), then windows of METRICS_WINDOW_SECONDS (default 10) alternating between no
 * scraping and a scrape every second, METRICS_ROUNDS (default 6) of each, in the same run. The
 * daemon's CPU comes from /proc/<pid>/stat (utime + stime) over each window, its RSS at each
 * window's end. Target: the scraped windows use under 2% of a core more than the idle ones.
 * Needs root and a build; run with `npm run bench -- metrics`.
 */
import { readFile } from "node:fs/promises";
import { benchMain, type Bench } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { percentile, ratio, round1 } from "./lib/stats.js";

const SANDBOXES = 20;
const MEMORY_MIB = 64;
const WINDOW_SECONDS = Number(process.env.METRICS_WINDOW_SECONDS ?? 10);
const ROUNDS = Number(process.env.METRICS_ROUNDS ?? 6);
const SCRAPE_INTERVAL_MS = 1000;
/** Sandboxes just made are still settling (agent start, page cache): not measured. */
const SETTLE_MS = 5000;
/** Target: extra daemon CPU while scraped, in percent of one core. */
const TARGET_EXTRA_PERCENT = 2;
/** Linux's USER_HZ: the unit of utime and stime in /proc/<pid>/stat. */
const CLOCK_TICKS_PER_SECOND = 100;

/** The daemon's CPU seconds so far (user + system). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return round1(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Window {
  scraped: boolean;
  cpuPercent: number;
  rssMiB: number;
  scrapeMs: number[];
  scrapeBytes: number;
}

async function window(bench: Bench, scraped: boolean): Promise<Window> {
  const { pid, url, token } = bench.daemon;
  const scrapeMs: number[] = [];
  let scrapeBytes = 0;
  const cpu0 = await cpuSeconds(pid);
  const t0 = performance.now();
  const end = t0 + WINDOW_SECONDS * 1000;
  if (!scraped) await sleep(WINDOW_SECONDS * 1000);
  else {
    for (let next = t0; next < end; next += SCRAPE_INTERVAL_MS) {
      await sleep(Math.max(0, next - performance.now()));
      const s = performance.now();
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      const text = await res.text();
      if (!res.ok) throw new Error(`GET /metrics answered ${res.status}: ${text.slice(0, 200)}`);
      scrapeMs.push(performance.now() - s);
      scrapeBytes = text.length;
    }
    await sleep(Math.max(0, end - performance.now()));
  }
  const cpu = (await cpuSeconds(pid)) - cpu0;
  const seconds = (performance.now() - t0) / 1000;
  return {
    scraped,
    cpuPercent: (100 * cpu) / seconds,
    rssMiB: await rssMiB(pid),
    scrapeMs,
    scrapeBytes,
  };
}

interface Result {
  windows: Window[];
}

benchMain<Result>(
  ["busybox"],
  async (bench) => {
    for (let i = 0; i < SANDBOXES; i++) {
      bench.signal.throwIfAborted();
      await bench.create({ image: "busybox", runtime: "runc", memoryMiB: MEMORY_MIB });
    }
    await sleep(SETTLE_MS);
    const windows: Window[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const scraped of [false, true]) {
        bench.signal.throwIfAborted();
        windows.push(await window(bench, scraped));
      }
    }
    return { windows };
  },
  async ({ windows }) => {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const idle = windows.filter((w) => !w.scraped);
    const scraped = windows.filter((w) => w.scraped);
    const idleCpu = mean(idle.map((w) => w.cpuPercent));
    const scrapedCpu = mean(scraped.map((w) => w.cpuPercent));
    const extra = scrapedCpu - idleCpu;
    const scrapeMs = scraped.flatMap((w) => w.scrapeMs);
    const rows = [
      ["window", "daemon CPU %", "RSS MiB", "scrape p50 ms", "scrape p95 ms"],
      ...windows.map((w, i) => [
        `${Math.floor(i / 2) + 1} ${w.scraped ? "scraped" : "idle"}`,
        String(round1(w.cpuPercent)),
        String(w.rssMiB),
        w.scraped ? String(round1(percentile(w.scrapeMs, 50))) : "-",
        w.scraped ? String(round1(percentile(w.scrapeMs, 95))) : "-",
      ]),
    ];
    printTable(rows, [
      `${SANDBOXES} idle runc busybox sandboxes of ${MEMORY_MIB} MiB; ${ROUNDS} rounds of ${WINDOW_SECONDS} s idle, then ${WINDOW_SECONDS} s with GET /metrics every ${SCRAPE_INTERVAL_MS} ms (${scraped[0]?.scrapeBytes ?? 0} bytes each)`,
      `daemon CPU: idle ${round1(idleCpu)}%, scraped ${round1(scrapedCpu)}% of a core (ratio ${ratio(scrapedCpu, idleCpu)}); extra ${round1(extra)}%: ${passMiss(extra < TARGET_EXTRA_PERCENT)} (target < ${TARGET_EXTRA_PERCENT}%)`,
    ]);
    await writeResults("metrics", {
      sandboxes: SANDBOXES,
      runtime: "runc",
      memoryMiB: MEMORY_MIB,
      windowSeconds: WINDOW_SECONDS,
      rounds: ROUNDS,
      scrapeIntervalMs: SCRAPE_INTERVAL_MS,
      scrapeBytes: scraped[0]?.scrapeBytes ?? 0,
      idleCpuPercent: round1(idleCpu),
      scrapedCpuPercent: round1(scrapedCpu),
      ratio: ratio(scrapedCpu, idleCpu),
      extraCpuPercent: round1(extra),
      targetExtraCpuPercent: TARGET_EXTRA_PERCENT,
      pass: extra < TARGET_EXTRA_PERCENT,
      scrapeMs: { p50: round1(percentile(scrapeMs, 50)), p95: round1(percentile(scrapeMs, 95)) },
      windows: windows.map((w) => ({
        scraped: w.scraped,
        cpuPercent: round1(w.cpuPercent),
        rssMiB: w.rssMiB,
      })),
    });
  },
);
