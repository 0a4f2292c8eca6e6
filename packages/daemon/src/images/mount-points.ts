import { chmod, lstat, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { AGENT_RUNTIME_DIR, AGENT_SOCKET_DIR } from "@paddock/protocol";

/**
 * Directories every sandbox mounts over. runsc creates a missing mount point inside the rootfs
 * on the host, so they are made once when an image is stored and the image never changes later.
 */
const MOUNT_POINTS = [
  "proc",
  "sys",
  "dev",
  "tmp",
  AGENT_RUNTIME_DIR.slice(1),
  AGENT_SOCKET_DIR.slice(1),
];

/**
 * Makes `rel` a real directory under `root`, one component at a time. An imported image may hold
 * a symlink where a mount point goes (say `.paddock -> /etc`); following it would create
 * directories on the host, so anything that is not a directory is replaced.
 */
async function ensureRealDir(root: string, rel: string): Promise<void> {
  let current = root;
  for (const part of rel.split("/")) {
    current = path.join(current, part);
    const st = await lstat(current).catch(() => undefined);
    if (st?.isDirectory()) continue;
    if (st) await rm(current, { recursive: true, force: true });
    await mkdir(current);
  }
}

export async function createMountPoints(rootfs: string): Promise<void> {
  for (const rel of MOUNT_POINTS) await ensureRealDir(rootfs, rel);
  await chmod(path.join(rootfs, "tmp"), 0o1777);
}
