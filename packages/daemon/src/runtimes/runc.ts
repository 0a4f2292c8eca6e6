import { mkdir } from "node:fs/promises";
import type { SandboxPaths } from "../layout.js";
import { OciRuntime } from "./runtime.js";
import { mountOverlay, unmountAll } from "./mounts.js";

/** runc: the image is the lower layer of a per-sandbox overlayfs mounted on the host. */
export class RuncRuntime extends OciRuntime {
  readonly name = "runc" as const;
  readonly binary = "runc";

  protected globalArgs(): string[] {
    return ["--root", this.root];
  }

  async prepareRootfs(paths: SandboxPaths, imageRootfs: string): Promise<string> {
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
