import { PAUSE_STATES, type SandboxMetrics, type SandboxState } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import type { Layout } from "../layout.js";
import { hostPidsLimit } from "../runtimes/oci-spec.js";
import { runtimeTarget, RUNTIME_PROFILES } from "../runtimes/index.js";
import { kernelOomKills } from "../sandboxes/cgroup-memory.js";
import type { SandboxRecord } from "../state/sandbox-store.js";
import { cpuUsageNs, pidCounts, workingSetNow } from "./cgroup-stats.js";
import { diskUsedBytes } from "./disk-usage.js";
import { NetCounters } from "./net-counters.js";

const MiB = 2 ** 20;
/** A base read closer than this makes a noisy rate: the one before it is used instead. */
const MIN_INTERVAL_MS = 500;
/** A base read older than this says little about now: the rate is measured afresh. */
const MAX_INTERVAL_MS = 10_000;
/** Measured afresh: over this long. */
const FRESH_INTERVAL_MS = 1000;

/** States in which a sandbox has a cgroup or a disk to read. */
export const MEASURABLE = new Set<SandboxState>(["running", ...PAUSE_STATES]);

interface CpuSample {
  atMs: number;
  ns: number;
}

/** What a Prometheus scrape reads of each sandbox: the cheap part, with no rate. */
export interface SandboxUsage {
  cpuSeconds: number;
  workingSetBytes: number;
  diskUsedBytes: number;
}

/**
 * Reads sandboxes' resource use on the host: CPU, memory and tasks from the sandbox's cgroup,
 * disk from its own filesystem, network from its namespace's interfaces. The CPU rate is taken
 * between two reads of the cgroup's CPU time, the daemon keeping the last two per sandbox so
 * that several readers (a `paddock top`, the web console) share them.
 */
export class SandboxMetricsReader {
  private readonly cpu = new Map<string, { last: CpuSample; before?: CpuSample }>();
  private readonly net = new NetCounters();

  constructor(
    private readonly layout: Layout,
    private readonly sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  async read(record: SandboxRecord): Promise<SandboxMetrics> {
    if (!MEASURABLE.has(record.state)) {
      throw new PaddockError(
        "sandbox_not_running",
        `sandbox ${record.id} is ${record.state}: it has no resource use to read`,
      );
    }
    const target = runtimeTarget(this.layout, record);
    const [cpu, kernelKills, network] = await Promise.all([
      this.cpuRate(record.id),
      RUNTIME_PROFILES[record.runtime].memoryPolicy === "kernel"
        ? kernelOomKills(record.id)
        : Promise.resolve(0),
      target.netns ? this.net.read(record.id, target.netns) : Promise.resolve(undefined),
    ]);
    // After the CPU rate, which may wait a second: these are as of the end of its interval.
    const memory = workingSetNow(record.id);
    const disk = diskUsedBytes(target.paths.disk);
    const pids = pidCounts(record.id);
    const pidsLimit = pids && Number.isFinite(pids.max) ? pids.max : hostPidsLimit(record);
    return {
      sandboxId: record.id,
      state: record.state,
      runtime: record.runtime,
      timestamp: new Date().toISOString(),
      cpu: { ...cpu, limitCores: record.cpu },
      memory: { workingSetBytes: memory ?? 0, limitBytes: record.memoryMiB * MiB },
      disk: { usedBytes: disk ?? 0, limitBytes: record.diskMiB * MiB },
      pids: { current: pids?.current ?? 0, limit: pidsLimit },
      // The memory guard records its kills and the kernel's; the kernel's count may be ahead.
      oomKills: Math.max(record.oomKills, kernelKills),
      ...(target.netns ? { network: network ?? { rxBytes: 0, txBytes: 0 } } : {}),
    };
  }

  /** CPU seconds, working set and disk use, with no waiting (for Prometheus). */
  usage(record: SandboxRecord): SandboxUsage {
    return {
      cpuSeconds: (cpuUsageNs(record.id) ?? 0) / 1e9,
      workingSetBytes: workingSetNow(record.id) ?? 0,
      diskUsedBytes: diskUsedBytes(this.layout.sandbox(record.id).disk) ?? 0,
    };
  }

  /** Drops what is kept of an ended sandbox. */
  forget(id: string): void {
    this.cpu.delete(id);
    this.net.forget(id);
  }

  private sample(id: string): CpuSample {
    return { atMs: performance.now(), ns: cpuUsageNs(id) ?? 0 };
  }

  private async cpuRate(
    id: string,
  ): Promise<{ usedCores: number; intervalMs: number; totalSeconds: number }> {
    let now = this.sample(id);
    const kept = this.cpu.get(id);
    let base = kept && now.atMs - kept.last.atMs >= MIN_INTERVAL_MS ? kept.last : kept?.before;
    if (!base || now.atMs - base.atMs > MAX_INTERVAL_MS || now.ns < base.ns) {
      base = now;
      await this.sleep(FRESH_INTERVAL_MS);
      now = this.sample(id);
    }
    // Reads closer together than MIN_INTERVAL_MS are not kept: the pair stays far enough
    // apart to be a base however often it is read.
    const last = this.cpu.get(id)?.last;
    if (!last || now.atMs - last.atMs >= MIN_INTERVAL_MS)
      this.cpu.set(id, { last: now, before: last && last.atMs > base.atMs ? last : base });
    const intervalMs = now.atMs - base.atMs;
    return {
      usedCores: intervalMs > 0 ? (now.ns - base.ns) / 1e6 / intervalMs : 0,
      intervalMs: Math.round(intervalMs),
      totalSeconds: now.ns / 1e9,
    };
  }
}
