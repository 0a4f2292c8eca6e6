import { z } from "zod";
import { RuntimeSchema, SandboxStateSchema } from "./sandbox.js";

/**
 * A sandbox's resource use, read by the daemon on the host from the sandbox's cgroup, its disk
 * and its network namespace: never from inside the sandbox, so a sandbox cannot lie about it.
 */
export const SandboxMetricsSchema = z.object({
  sandboxId: z.string(),
  state: SandboxStateSchema,
  runtime: RuntimeSchema,
  /** When the numbers were read (ISO 8601). */
  timestamp: z.string(),
  cpu: z.object({
    /**
     * Cores in use, averaged over `intervalMs`: since the daemon's previous read of this
     * sandbox, or over the last second when there was none recently.
     */
    usedCores: z.number(),
    intervalMs: z.number(),
    /** CPU time used since the sandbox started (under runsc: gVisor's own threads included). */
    totalSeconds: z.number(),
    limitCores: z.number(),
  }),
  memory: z.object({
    /** Anonymous and shared memory (gVisor's application memory), not reclaimable page cache. */
    workingSetBytes: z.number(),
    limitBytes: z.number(),
  }),
  disk: z.object({
    /** Bytes used on the sandbox's own filesystem (everything it writes lands there). */
    usedBytes: z.number(),
    limitBytes: z.number(),
  }),
  /**
   * Host tasks in the sandbox's cgroup and the cgroup's cap: under runc its processes' threads;
   * under runsc gVisor's own threads (about two per process inside).
   */
  pids: z.object({ current: z.number(), limit: z.number() }),
  /** Processes killed for memory in this sandbox (kernel OOM killer or the memory guard). */
  oomKills: z.number(),
  /** Bytes the sandbox received and sent on its network interface; absent without a network. */
  network: z.object({ rxBytes: z.number(), txBytes: z.number() }).optional(),
});
export type SandboxMetrics = z.infer<typeof SandboxMetricsSchema>;

/** The Prometheus text exposition format's content type, as `GET /metrics` answers. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
