import { mkdir } from "node:fs/promises";
import type { SandboxPaths } from "../layout.js";
import { OciRuntime } from "./runtime.js";
import { mountOverlay, unmountAll } from "./mounts.js";
import { mountDisk } from "./disk.js";

/**
 * runc: the image is the lower layer of a per-sandbox overlayfs mounted on the host, its upper
 * layer on the sandbox's disk.
 */
export class RuncRuntime extends OciRuntime {
  readonly name = "runc" as const;
  readonly binary = "runc";

  globalArgs(): string[] {
    return ["--root", this.root];
  }

  async prepareRootfs(paths: SandboxPaths, imageRootfs: string, diskMiB: number): Promise<string> {
    await mountDisk(paths, diskMiB);
    await Promise.all(
      [paths.rootfs, paths.upper, paths.work].map((d) => mkdir(d, { recursive: true })),
    );
    await mountOverlay(imageRootfs, paths.upper, paths.work, paths.rootfs);
    return paths.rootfs;
  }

  async releaseRootfs(paths: SandboxPaths): Promise<void> {
    await unmountAll(paths.dir);
  }
}
