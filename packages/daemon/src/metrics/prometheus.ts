import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { RUNTIMES, SANDBOX_STATES } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import type { EventBus } from "../events/event-bus.js";
import { LIVE_STATES, type SandboxRecord, type SandboxStore } from "../state/sandbox-store.js";
import { MEASURABLE, type SandboxMetricsReader, type SandboxUsage } from "./sandbox-metrics.js";

const MiB = 2 ** 20;
/** Collectors of one scrape share one read of the sandboxes (they run at once). */
const SCRAPE_SHARE_MS = 250;

export interface DaemonMetricsDeps {
  store: SandboxStore;
  reader: SandboxMetricsReader;
  events: EventBus;
  /** Series per sandbox (labelled by id); off for a daemon with very many sandboxes. */
  perSandbox: boolean;
}

interface Scrape {
  live: SandboxRecord[];
  usage: Map<string, SandboxUsage>;
}

/**
 * The daemon's Prometheus metrics (`GET /metrics`). Counters follow the event bus and the API's
 * requests; gauges are read when scraped, from the state database and (per sandbox) from the
 * cgroup and disk: nothing runs between scrapes.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  private scrape?: { atMs: number; result: Promise<Scrape> };
  private readonly memoryGuardKills: Counter;
  private readonly socketBytes = new WeakMap<Socket, { read: number; written: number }>();
  private readonly requestSeconds: Histogram<"method" | "route">;
  private readonly requestErrors: Counter<"method" | "route" | "status">;
  private readonly uploaded: Counter<"route">;
  private readonly downloaded: Counter<"route">;
  private readonly agentFailures: Counter<"code">;

  constructor(private readonly deps: DaemonMetricsDeps) {
    const registers = [this.registry];
    const scrape = () => this.read();
    // The daemon's own CPU and memory, read when scraped. Not prom-client's default metrics:
    // their event-loop monitor wakes the daemon every 10 ms whether anyone scrapes or not.
    new Counter({
      name: "paddock_daemon_cpu_seconds_total",
      help: "CPU time the daemon's process used (user and system)",
      registers,
      collect() {
        const { user, system } = process.cpuUsage();
        this.reset();
        this.inc((user + system) / 1e6);
      },
    });
    new Gauge({
      name: "paddock_daemon_resident_memory_bytes",
      help: "The daemon's resident set size",
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });

    new Gauge({
      name: "paddock_sandboxes",
      help: "Sandboxes not yet ended, by state and runtime",
      labelNames: ["state", "runtime"],
      registers,
      async collect() {
        const { live } = await scrape();
        this.reset();
        for (const state of SANDBOX_STATES.filter((s) => LIVE_STATES.includes(s)))
          for (const runtime of RUNTIMES)
            this.set(
              { state, runtime },
              live.filter((r) => r.state === state && r.runtime === runtime).length,
            );
      },
    });
    const byType = (name: string, help: string, type: string) => {
      const counter = new Counter({ name, help, labelNames: ["runtime"], registers });
      for (const runtime of RUNTIMES) counter.inc({ runtime }, 0);
      deps.events.subscribe((e) => {
        if (e.type === type) counter.inc({ runtime: e.runtime });
      });
    };
    byType("paddock_sandbox_creates_total", "Sandboxes created (warm-pool claims too)", "created");
    byType(
      "paddock_sandbox_failures_total",
      "Sandboxes that failed: a create that failed, or a sandbox whose agent or container died",
      "failed",
    );
    const terminations = new Counter({
      name: "paddock_sandbox_terminations_total",
      help: "Sandboxes ended on request (reason=request) or by their timeout (reason=timeout)",
      labelNames: ["runtime", "reason"],
      registers,
    });
    const createSeconds = new Histogram({
      name: "paddock_sandbox_create_seconds",
      help: "Time from a create request to a running sandbox whose agent answers",
      labelNames: ["runtime"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    deps.events.subscribe((e) => {
      if (e.type === "terminated") terminations.inc({ runtime: e.runtime, reason: "request" });
      if (e.type === "expired") terminations.inc({ runtime: e.runtime, reason: "timeout" });
      if (e.type === "created" && e.createMs !== undefined)
        createSeconds.observe({ runtime: e.runtime }, e.createMs / 1000);
    });
    this.memoryGuardKills = new Counter({
      name: "paddock_memory_guard_kills_total",
      help: "Processes the memory guard killed in gVisor sandboxes past their memoryMiB",
      registers,
    });
    this.requestSeconds = new Histogram({
      name: "paddock_api_request_seconds",
      help: "API request time until the answer is sent (streams: until they end), by route pattern",
      labelNames: ["method", "route"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.requestErrors = new Counter({
      name: "paddock_api_request_errors_total",
      help: "API requests answered with an error status, by route pattern",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.uploaded = new Counter({
      name: "paddock_api_received_bytes_total",
      help: "Bytes received in API requests (uploads), headers included, by route pattern",
      labelNames: ["route"],
      registers,
    });
    this.downloaded = new Counter({
      name: "paddock_api_sent_bytes_total",
      help: "Bytes sent in API answers (downloads, output), headers included, by route pattern",
      labelNames: ["route"],
      registers,
    });
    this.agentFailures = new Counter({
      name: "paddock_agent_failures_total",
      help: "API requests that failed because a sandbox's agent did not answer or answered wrong",
      labelNames: ["code"],
      registers,
    });
    if (deps.perSandbox) this.sandboxSeries(scrape);
  }

  /** Counts a kill of the memory guard (sandboxes/memory-guard.ts). */
  countMemoryGuardKill(): void {
    this.memoryGuardKills.inc();
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Times every API request and counts its errors and bytes, by route pattern (never the raw
   * URL: ids would make a series per sandbox). Register before the routes.
   */
  instrument(app: FastifyInstance): void {
    app.addHook("onError", async (_request, _reply, error) => {
      const code = error instanceof PaddockError ? error.code : undefined;
      if (code === "agent_error" || code === "agent_unavailable") this.agentFailures.inc({ code });
    });
    app.addHook("onResponse", async (request, reply) => {
      const route = request.routeOptions.url ?? "unmatched";
      const method = request.method;
      this.requestSeconds.observe({ method, route }, reply.elapsedTime / 1000);
      if (reply.statusCode >= 400)
        this.requestErrors.inc({ method, route, status: String(reply.statusCode) });
      // A keep-alive connection carries one request at a time: what its socket moved since the
      // previous answer is this request's.
      const socket = request.raw.socket;
      if (!socket) return;
      const before = this.socketBytes.get(socket) ?? { read: 0, written: 0 };
      const now = { read: socket.bytesRead, written: socket.bytesWritten };
      this.socketBytes.set(socket, now);
      this.uploaded.inc({ route }, Math.max(0, now.read - before.read));
      this.downloaded.inc({ route }, Math.max(0, now.written - before.written));
    });
  }

  private sandboxSeries(scrape: () => Promise<Scrape>): void {
    const registers = [this.registry];
    const labelNames = ["sandbox_id", "runtime"] as const;
    const series = (
      name: string,
      help: string,
      value: (r: SandboxRecord, u: SandboxUsage) => number,
      Type: typeof Gauge | typeof Counter = Gauge,
    ) => {
      const collect = async function (this: Gauge | Counter) {
        const { live, usage } = await scrape();
        this.reset();
        for (const record of live) {
          const u = usage.get(record.id);
          if (!u) continue;
          const labels = { sandbox_id: record.id, runtime: record.runtime };
          if (this instanceof Gauge) this.set(labels, value(record, u));
          else this.inc(labels, value(record, u));
        }
      };
      new Type({ name, help, labelNames, registers, collect });
    };
    series(
      "paddock_sandbox_cpu_seconds_total",
      "CPU time the sandbox's cgroup used (rate() gives cores)",
      (_, u) => u.cpuSeconds,
      Counter,
    );
    series(
      "paddock_sandbox_memory_working_set_bytes",
      "Anonymous and shared memory of the sandbox's cgroup",
      (_, u) => u.workingSetBytes,
    );
    series(
      "paddock_sandbox_memory_limit_bytes",
      "The sandbox's memoryMiB",
      (r) => r.memoryMiB * MiB,
    );
    series(
      "paddock_sandbox_disk_used_bytes",
      "Bytes used on the sandbox's own filesystem",
      (_, u) => u.diskUsedBytes,
    );
    series("paddock_sandbox_disk_limit_bytes", "The sandbox's diskMiB", (r) => r.diskMiB * MiB);
  }

  /** The live sandboxes and (per-sandbox series on) their use: one read per scrape. */
  private read(): Promise<Scrape> {
    const now = performance.now();
    if (this.scrape && now - this.scrape.atMs < SCRAPE_SHARE_MS) return this.scrape.result;
    const result = (async (): Promise<Scrape> => {
      const live = this.deps.store.inStates(LIVE_STATES);
      const usage = new Map<string, SandboxUsage>();
      if (this.deps.perSandbox) {
        const measured = live.filter((r) => MEASURABLE.has(r.state));
        for (const r of measured) usage.set(r.id, this.deps.reader.usage(r));
      }
      return { live, usage };
    })();
    this.scrape = { atMs: now, result };
    return result;
  }
}
