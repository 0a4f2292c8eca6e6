import { existsSync, readFileSync } from "node:fs";
import { memoryStatFile, workingSetOf } from "../sandboxes/cgroup-memory.js";

/** cgroup v2 (one unified tree) or v1 (a tree per controller); both put a sandbox at /paddock/<id>. */
const V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");

/** The sandbox's cgroup directory for `controller` (v1), or its one directory (v2). */
export function cgroupDir(id: string, controller: "cpuacct" | "pids"): string {
  return V2 ? `/sys/fs/cgroup/paddock/${id}` : `/sys/fs/cgroup/${controller}/paddock/${id}`;
}

/**
 * A cgroup file's text, or undefined when the cgroup is gone. Read synchronously on purpose:
 * these are kernel pseudo-files answered from memory, never waiting on a disk, and four direct
 * syscalls cost a fraction of an asynchronous read's four trips through libuv's thread pool,
 * which matters for a scrape reading three files per sandbox every second.
 */
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** CPU time the sandbox's cgroup has used, in nanoseconds; undefined when the cgroup is gone. */
export function cpuUsageNs(id: string): number | undefined {
  const dir = cgroupDir(id, "cpuacct");
  if (!V2) {
    const text = readText(`${dir}/cpuacct.usage`);
    return text === undefined ? undefined : Number(text.trim());
  }
  const micros = /^usage_usec (\d+)$/m.exec(readText(`${dir}/cpu.stat`) ?? "")?.[1];
  return micros ? Number(micros) * 1000 : undefined;
}

/** The sandbox's working set (cgroup-memory.ts says what counts); undefined when gone. */
export function workingSetNow(id: string): number | undefined {
  const text = readText(memoryStatFile(id));
  return text === undefined ? undefined : workingSetOf(text);
}

/** Tasks in the sandbox's cgroup and its cap ("max": no cap, as Infinity); undefined when gone. */
export function pidCounts(id: string): { current: number; max: number } | undefined {
  const dir = cgroupDir(id, "pids");
  const current = readText(`${dir}/pids.current`);
  if (current === undefined) return undefined;
  const cap = readText(`${dir}/pids.max`)?.trim();
  return { current: Number(current.trim()), max: !cap || cap === "max" ? Infinity : Number(cap) };
}

/** The process ids in the sandbox's cgroup. */
export function cgroupPids(id: string): number[] {
  return (readText(`${cgroupDir(id, "pids")}/cgroup.procs`) ?? "")
    .split("\n")
    .filter(Boolean)
    .map(Number);
}
