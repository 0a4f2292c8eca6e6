import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import type { SandboxRecord, SandboxStore } from "../state/sandbox-store.js";
import { kernelOomKills, setMemoryLimit, workingSetBytes } from "./cgroup-memory.js";
import { every } from "./periodic.js";
import type { SandboxService } from "./sandbox-service.js";

const MiB = 2 ** 20;
/** After a kill, memory takes a moment to return to the host; do not kill again meanwhile. */
const COOLDOWN_MS = 1000;

/**
 * The host limit of a gVisor sandbox: room above its nominal limit for gVisor itself and for
 * what a fast allocator adds between two looks of the guard. Past it the kernel kills the
 * whole sandbox, so the guard must act first.
 */
export function gvisorHardLimitBytes(memoryMiB: number): number {
  return (memoryMiB + Math.max(512, memoryMiB)) * MiB;
}

/** Gives a new gVisor sandbox its host limit with headroom (its spec says the nominal one). */
export async function applyGvisorHardLimit(record: SandboxRecord): Promise<void> {
  await setMemoryLimit(record.id, gvisorHardLimitBytes(record.memoryMiB));
}

/**
 * Keeps each sandbox's memory limit per process, as users expect from Linux: a process that
 * allocates past memoryMiB is killed and the sandbox lives on. Under runc the kernel's OOM
 * killer does that inside the container's cgroup and the guard only counts its kills. Under
 * gVisor the kernel would kill the whole sandbox (all of it is one cgroup member), so the
 * guard watches the working set from outside and, past memoryMiB, has the agent kill the
 * largest process inside.
 */
export function startMemoryGuard(
  store: SandboxStore,
  service: SandboxService,
  intervalMs: number,
  log: Logger,
): () => void {
  const quietUntil = new Map<string, number>();
  /** A kill waits on the agent; it must not hold up the other sandboxes' checks. */
  const kill = async (record: SandboxRecord, used: number) => {
    const killed = await service.agent(record.id).oomKill();
    quietUntil.set(record.id, Date.now() + COOLDOWN_MS);
    if (!killed) return;
    store.addOomKill(record.id);
    log.warn(
      { id: record.id, usedMiB: Math.round(used / MiB), limitMiB: record.memoryMiB, ...killed },
      "out of memory: killed the largest process in the sandbox",
    );
  };
  const check = async (record: SandboxRecord) => {
    if (record.runtime === "runc") {
      const kills = await kernelOomKills(record.id);
      if (kills > record.oomKills) store.setOomKills(record.id, kills);
      return;
    }
    const used = await workingSetBytes(record.id);
    if (used === undefined || used <= record.memoryMiB * MiB) return;
    if ((quietUntil.get(record.id) ?? 0) > Date.now()) return;
    // Quiet until the kill has answered, then for the cool-down.
    quietUntil.set(record.id, Infinity);
    void kill(record, used).catch((err: unknown) => {
      quietUntil.set(record.id, Date.now() + COOLDOWN_MS);
      log.warn({ id: record.id, err: errorMessage(err) }, "out of memory, and the kill failed");
    });
  };
  return every(intervalMs, async () => {
    const running = store.inStates(["running"]);
    for (const id of quietUntil.keys())
      if (!running.some((r) => r.id === id)) quietUntil.delete(id);
    await Promise.all(
      running.map((record) =>
        check(record).catch((err: unknown) =>
          log.warn({ id: record.id, err: errorMessage(err) }, "memory check failed"),
        ),
      ),
    );
  });
}
