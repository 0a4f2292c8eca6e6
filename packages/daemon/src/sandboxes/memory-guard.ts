import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import type { SandboxRecord, SandboxStore } from "../state/sandbox-store.js";
import { RUNTIME_PROFILES } from "../runtimes/index.js";
import { kernelOomKills, workingSetBytes } from "./cgroup-memory.js";
import { every } from "./periodic.js";
import type { SandboxService } from "./sandbox-service.js";

const MiB = 2 ** 20;
/** After a kill, memory takes a moment to return to the host; do not kill again meanwhile. */
const COOLDOWN_MS = 1000;

/**
 * Keeps each sandbox's memory limit per process, as users expect from Linux: a process that
 * allocates past memoryMiB is killed and the sandbox lives on. Under a runtime whose memory
 * policy is "kernel" (runc) the kernel's OOM killer does that inside the container's cgroup and
 * the guard only counts its kills. Under "guard" (gVisor: all of the sandbox is one cgroup
 * member, which the kernel would kill whole) the guard watches the working set from outside
 * and, past memoryMiB, has the agent kill the largest process inside.
 */
export function startMemoryGuard(
  store: SandboxStore,
  service: SandboxService,
  intervalMs: number,
  log: Logger,
  /** Called on each kill (the Prometheus counter). */
  onKill: () => void = () => {},
): () => void {
  const quietUntil = new Map<string, number>();
  /** A kill waits on the agent; it must not hold up the other sandboxes' checks. */
  const kill = async (record: SandboxRecord, used: number) => {
    const killed = await service.agent(record.id).oomKill();
    quietUntil.set(record.id, Date.now() + COOLDOWN_MS);
    if (!killed) return;
    store.addOomKill(record.id);
    onKill();
    log.warn(
      { id: record.id, usedMiB: Math.round(used / MiB), limitMiB: record.memoryMiB, ...killed },
      "out of memory: killed the largest process in the sandbox",
    );
  };
  const check = async (record: SandboxRecord) => {
    if (RUNTIME_PROFILES[record.runtime].memoryPolicy === "kernel") {
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
