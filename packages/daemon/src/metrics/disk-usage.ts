import { statfs } from "node:fs/promises";

/**
 * Bytes in use on the filesystem mounted at `mountPoint` (the sandbox's own loop-mounted disk,
 * see runtimes/disk.ts): one statfs, whatever the number of files. Undefined when it is gone.
 */
export async function diskUsedBytes(mountPoint: string): Promise<number | undefined> {
  try {
    const s = await statfs(mountPoint);
    return (s.blocks - s.bfree) * s.bsize;
  } catch {
    return undefined;
  }
}
