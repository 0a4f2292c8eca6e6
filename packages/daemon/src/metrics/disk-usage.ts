import { statfsSync } from "node:fs";

/**
 * Bytes in use on the filesystem mounted at `mountPoint` (the sandbox's own loop-mounted disk,
 * see runtimes/disk.ts): one statfs, whatever the number of files. Synchronous: ext4 answers it
 * from its in-memory counters. Undefined when it is gone.
 */
export function diskUsedBytes(mountPoint: string): number | undefined {
  try {
    const s = statfsSync(mountPoint);
    return (s.blocks - s.bfree) * s.bsize;
  } catch {
    return undefined;
  }
}
