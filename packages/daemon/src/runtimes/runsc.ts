import { mkdir } from "node:fs/promises";
import type { SandboxPaths } from "../layout.js";
import { OciRuntime, type RuntimeTarget } from "./runtime.js";
import { unmountAll } from "./mounts.js";
import { mountDisk } from "./disk.js";

/**
 * runsc: the image directory is the read-only lower layer and gVisor keeps its own rootfs
 * overlay inside the sandbox, with the filestore on the sandbox's disk, never in the image.
 */
export class RunscRuntime extends OciRuntime {
  readonly name = "runsc" as const;
  readonly binary = "runsc";

  globalArgs(target: RuntimeTarget | undefined): string[] {
    const args = ["--root", this.root, "--network=none", "--host-uds=create"];
    if (target?.paths) args.push(`--overlay2=root:dir=${target.paths.overlayStore}`);
    // Docker inside gVisor needs raw sockets.
    if (target?.docker) args.push("--net-raw");
    return args;
  }

  async prepareRootfs(paths: SandboxPaths, imageRootfs: string, diskMiB: number): Promise<string> {
    await mountDisk(paths, diskMiB);
    await mkdir(paths.overlayStore, { recursive: true });
    return imageRootfs;
  }

  async releaseRootfs(paths: SandboxPaths): Promise<void> {
    await unmountAll(paths.dir);
  }
}
