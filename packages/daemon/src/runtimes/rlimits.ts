import { readFileSync } from "node:fs";

/** The hard "Max open files" limit from /proc/<pid>/limits text. */
export function parseOpenFilesLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!match) return undefined;
  return match[2] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(match[2]);
}

/**
 * The open-files limit a sandbox gets. Raising a hard limit above the daemon's own needs
 * CAP_SYS_RESOURCE, which this machine's bounding set lacks, so never ask for more than we have.
 */
export function sandboxOpenFilesLimit(wanted = 65536): number {
  const own = parseOpenFilesLimit(readFileSync("/proc/self/limits", "utf8"));
  return Math.min(wanted, own ?? 1024);
}
