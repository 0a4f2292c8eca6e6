import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";

/** cgroup v2 (one unified tree) or v1 (a tree per controller); both put a sandbox at /paddock/<id>. */
const V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");

/** The sandbox's cgroup directory for `controller` (v1), or its one directory (v2). */
export function cgroupDir(id: string, controller: "cpuacct" | "pids" | "memory"): string {
  return V2 ? `/sys/fs/cgroup/paddock/${id}` : `/sys/fs/cgroup/${controller}/paddock/${id}`;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return undefined;
  }
}

/** CPU time the sandbox's cgroup has used, in nanoseconds; undefined when the cgroup is gone. */
export async function cpuUsageNs(id: string): Promise<number | undefined> {
  const dir = cgroupDir(id, "cpuacct");
  if (!V2) {
    const text = await readText(`${dir}/cpuacct.usage`);
    return text === undefined ? undefined : Number(text.trim());
  }
  const text = await readText(`${dir}/cpu.stat`);
  const micros = text && /^usage_usec (\d+)$/m.exec(text)?.[1];
  return micros ? Number(micros) * 1000 : undefined;
}

/** Tasks in the sandbox's cgroup and its cap ("max": no cap, as Infinity); undefined when gone. */
export async function pidCounts(id: string): Promise<{ current: number; max: number } | undefined> {
  const dir = cgroupDir(id, "pids");
  const [current, max] = await Promise.all([
    readText(`${dir}/pids.current`),
    readText(`${dir}/pids.max`),
  ]);
  if (current === undefined) return undefined;
  const cap = max?.trim();
  return { current: Number(current.trim()), max: !cap || cap === "max" ? Infinity : Number(cap) };
}

/** The process ids in the sandbox's cgroup (the first controller that has them). */
export async function cgroupPids(id: string): Promise<number[]> {
  const text = await readText(`${cgroupDir(id, "pids")}/cgroup.procs`);
  return (text ?? "").split("\n").filter(Boolean).map(Number);
}
