import { mkdir } from "node:fs/promises";
import type { SandboxPaths } from "../layout.js";
import { OciRuntime } from "./runtime.js";
import { copyTree, mountOverlay, unmountAll } from "./mounts.js";
import { mountDisk } from "./disk.js";
import { addDockerStorage, type AdjustableSpec, type RuntimeProfile } from "./profile.js";
import { runcSeccomp } from "./seccomp.js";

/**
 * runc shares the host's kernel: the host cgroup holds exactly the sandbox's processes, and
 * the kernel's OOM killer acts inside it on the process that went past the limit.
 */
export const runcProfile: RuntimeProfile = {
  hostPidsLimit: (pidsLimit) => pidsLimit,
  adjustSpec(spec, sandbox) {
    if (sandbox.docker) addDocker(spec);
    else {
      // The sandbox's own cgroup, read-only (as Docker mounts it): the agent reads the kernel's
      // OOM kill count there to tell a process that memory killed it.
      addCgroupMount(spec, "ro");
      // Docker's seccomp coverage, save for Docker sandboxes (dockerd needs mount and namespaces).
      spec.linux.seccomp = runcSeccomp();
    }
  },
  memoryPolicy: "kernel",
  afterStart: async () => {},
  agentReadyTimeoutMs: 15_000,
  networkNamespace: "spec",
  docker: {
    // dockerd needs every capability, every device and a writable cgroup mount (see addDocker).
    rootOnHost: true,
    hostNetwork: false,
    dockerdScript: (logFile) => `exec dockerd >${logFile} 2>&1`,
  },
};

/** The sandbox's own cgroup at /sys/fs/cgroup (runc shows only the container's part of the tree). */
function addCgroupMount(spec: AdjustableSpec, access: "ro" | "rw"): void {
  spec.mounts.push({
    destination: "/sys/fs/cgroup",
    type: "cgroup",
    source: "cgroup",
    options: ["nosuid", "noexec", "nodev", "relatime", access],
  });
}

/** What dockerd needs and nothing more: its storage, a writable cgroup mount, every device, no masked paths. */
function addDocker(spec: AdjustableSpec): void {
  addDockerStorage(spec);
  addCgroupMount(spec, "rw");
  spec.linux.resources.devices = [{ allow: true, access: "rwm" }];
  spec.linux.maskedPaths = [];
  spec.linux.readonlyPaths = [];
}

/**
 * runc: the image is the lower layer of a per-sandbox overlayfs mounted on the host, its upper
 * layer on the sandbox's disk.
 */
export class RuncRuntime extends OciRuntime {
  readonly name = "runc" as const;
  readonly binary = "runc";
  readonly profile = runcProfile;

  globalArgs(): string[] {
    return ["--root", this.root];
  }

  async prepareRootfs(
    paths: SandboxPaths,
    imageRootfs: string,
    diskMiB: number,
    seed?: string,
  ): Promise<string> {
    await mountDisk(paths, diskMiB);
    await Promise.all(
      [paths.rootfs, paths.upper, paths.work].map((d) => mkdir(d, { recursive: true })),
    );
    // Whiteouts and opaque dirs come along (cp -a keeps devices and xattrs).
    if (seed) await copyTree(seed, paths.upper);
    await mountOverlay(imageRootfs, paths.upper, paths.work, paths.rootfs);
    return paths.rootfs;
  }

  async releaseRootfs(paths: SandboxPaths): Promise<void> {
    await unmountAll(paths.dir);
  }
}
