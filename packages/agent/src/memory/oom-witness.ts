import { existsSync, readFileSync } from "node:fs";

/**
 * What this agent can know of OOM kills, to tell a process's result that memory ended it.
 * Under gVisor the daemon's memory guard has this agent kill the largest process (oom-kill.ts),
 * so the agent saw the kill itself and remembers its process group. Under runc the kernel's OOM
 * killer acts in the sandbox's cgroup, which runc mounts read-only at /sys/fs/cgroup: its
 * `oom_kill` count tells that a kill happened, not whom it hit.
 */

/** Process groups that lost a member to the memory guard. */
const guardKilledGroups = new Set<number>();

/** The process group of `pid`, read before it is killed; undefined once it is gone. */
function groupOf(pid: number): number | undefined {
  try {
    // Fields after the command, which may hold spaces and parentheses, start after the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    return Number.isInteger(pgid) ? pgid : undefined;
  } catch {
    return undefined;
  }
}

/** Called just before the memory guard's kill of `pid`. */
export function noteGuardKill(pid: number): void {
  const pgid = groupOf(pid);
  if (pgid !== undefined) guardKilledGroups.add(pgid);
}

/** cgroup v2, then v1's memory controller, as runc mounts the sandbox's own cgroup. */
const KERNEL_COUNTERS = [
  "/sys/fs/cgroup/memory.events",
  "/sys/fs/cgroup/memory/memory.oom_control",
];

/**
 * The counter file this sandbox has, found once: every process start reads it, and under gVisor
 * (no cgroup mount) there is none to look for again.
 */
let counterFile: string | null | undefined;

/** Processes the kernel's OOM killer has killed in this sandbox so far; 0 when unknown. */
export function kernelOomKills(): number {
  if (counterFile === undefined) counterFile = KERNEL_COUNTERS.find((f) => existsSync(f)) ?? null;
  if (counterFile === null) return 0;
  try {
    const match = /^oom_kill (\d+)$/m.exec(readFileSync(counterFile, "utf8"));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Whether memory ended the process group `pgid`: the guard killed one of its members, or it
 * died of SIGKILL (itself, or a child whose shell reported 128+9) while the kernel's OOM count
 * rose since `kernelKillsAtStart`.
 */
export function endedByOom(
  pgid: number,
  kernelKillsAtStart: number,
  exit: { code: number | null; signal: string | null },
): boolean {
  if (guardKilledGroups.delete(pgid)) return true;
  const killed = exit.signal === "SIGKILL" || exit.code === 128 + 9;
  return killed && kernelOomKills() > kernelKillsAtStart;
}
