import { mkdir, open } from "node:fs/promises";
import type { SandboxPaths } from "../layout.js";
import { run } from "../exec.js";

/**
 * Gives a sandbox its own filesystem of a fixed size for everything it writes: a sparse file
 * formatted ext4 and loop-mounted. Filling it is ENOSPC inside the sandbox while the host and
 * other sandboxes keep their space; the host pays only for blocks actually written.
 * No journal: the filesystem never outlives the sandbox, and a sandbox does not survive a reboot.
 */
export async function mountDisk(paths: SandboxPaths, sizeMiB: number): Promise<void> {
  await mkdir(paths.disk, { recursive: true });
  const file = await open(paths.diskImage, "w", 0o600);
  try {
    await file.truncate(sizeMiB * 2 ** 20);
  } finally {
    await file.close();
  }
  // -m 0: no blocks reserved for root, so the quota is the size the user asked for. No resize
  // inode (the disk never grows): it would cost 4 MiB of writes and most of mkfs's time.
  await run("mkfs.ext4", [
    "-q",
    "-F",
    "-m",
    "0",
    "-O",
    "^has_journal,^resize_inode",
    paths.diskImage,
  ]);
  // A loop mount sets autoclear: the loop device goes away with the last unmount.
  await run("mount", ["-o", "loop,nodev,nosuid", paths.diskImage, paths.disk]);
}
