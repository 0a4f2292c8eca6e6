import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";

/** cgroup v2 (one unified tree) or v1 (a tree per controller); both put a sandbox at /paddock/<id>. */
const V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");

function file(id: string, v1: string, v2: string): string {
  return V2 ? `/sys/fs/cgroup/paddock/${id}/${v2}` : `/sys/fs/cgroup/memory/paddock/${id}/${v1}`;
}

/** `key value` lines (memory.stat, memory.events, memory.oom_control) as numbers. */
function fields(text: string): Map<string, number> {
  return new Map(
    text
      .split("\n")
      .map((line) => line.split(" "))
      .filter((parts) => parts.length === 2)
      .map(([k, v]) => [k!, Number(v)]),
  );
}

/**
 * Memory the sandbox's processes hold: anonymous memory plus shared memory (gVisor keeps all of
 * its application memory in a memfd, which counts as shmem). Not the page cache of files read,
 * which the kernel takes back by itself. Undefined when the cgroup is gone.
 */
export async function workingSetBytes(id: string): Promise<number | undefined> {
  try {
    return workingSetOf(await readFile(memoryStatFile(id), "utf8"));
  } catch {
    return undefined;
  }
}

/** The sandbox's memory.stat, for readers that read it their own way (metrics/). */
export function memoryStatFile(id: string): string {
  return file(id, "memory.stat", "memory.stat");
}

/** The working set (see workingSetBytes) in a memory.stat text. */
export function workingSetOf(memoryStat: string): number {
  const stat = fields(memoryStat);
  return V2
    ? (stat.get("anon") ?? 0) + (stat.get("shmem") ?? 0)
    : (stat.get("total_rss") ?? 0) + (stat.get("total_shmem") ?? 0);
}

/** Processes the kernel's OOM killer killed in the sandbox's cgroup; 0 when unknown. */
export async function kernelOomKills(id: string): Promise<number> {
  try {
    const text = await readFile(file(id, "memory.oom_control", "memory.events"), "utf8");
    return fields(text).get("oom_kill") ?? 0;
  } catch {
    return 0;
  }
}

/** Sets the hard memory limit of the sandbox's cgroup. */
export async function setMemoryLimit(id: string, bytes: number): Promise<void> {
  await writeFile(file(id, "memory.limit_in_bytes", "memory.max"), String(bytes));
}
