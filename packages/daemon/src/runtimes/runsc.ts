import { mkdir } from "node:fs/promises";
import { AGENT_ENV } from "@paddock/protocol";
import type { SandboxPaths } from "../layout.js";
import { setMemoryLimit } from "../sandboxes/cgroup-memory.js";
import { OciRuntime, type RuntimeTarget } from "./runtime.js";
import { unmountAll } from "./mounts.js";
import { mountDisk } from "./disk.js";
import { addDockerStorage, type RuntimeProfile } from "./profile.js";

const MiB = 2 ** 20;

/**
 * The host limit of a gVisor sandbox: room above its nominal limit for gVisor itself and for
 * what a fast allocator adds between two looks of the memory guard. Past it the kernel kills
 * the whole sandbox, so the guard must act first.
 */
export function gvisorHardLimitBytes(memoryMiB: number): number {
  return (memoryMiB + Math.max(512, memoryMiB)) * MiB;
}

/**
 * gVisor runs its own kernel (the sentry): the host sees one cgroup member for the whole
 * sandbox, so limits that must hit one process are kept inside, and the host's only back
 * them up.
 */
export const runscProfile: RuntimeProfile = {
  // The host cgroup counts gVisor's own threads and a stub per address space, and when it is
  // full the sentry itself fails and the sandbox is lost. So the limit is kept inside
  // (RLIMIT_NPROC on user processes, which gVisor enforces with EAGAIN; see adjustSpec) and the
  // host cgroup only backs it up. Measured here: about two host pids per process inside (its
  // stub and the stub's thread), plus the sentry's own threads, which grow with load.
  hostPidsLimit: (pidsLimit) => 3 * pidsLimit + 512,
  adjustSpec(spec, sandbox) {
    spec.process.env.push(
      `${AGENT_ENV.processLimit}=${sandbox.pidsLimit}`,
      `${AGENT_ENV.ptyEraseSignalChars}=1`,
    );
    // gVisor puts an in-memory tmpfs on /tmp by itself, sized by the host; bound it, so filling
    // /tmp is ENOSPC inside the sandbox and not the host's OOM killer ending the sandbox.
    spec.mounts.push({
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: [
        "nosuid",
        "nodev",
        "mode=1777",
        `size=${Math.max(16, Math.floor(sandbox.memoryMiB / 2))}m`,
      ],
    });
    // gVisor's own kernel is the boundary: dockerd gets its storage and nothing else (its start
    // script mounts cgroups inside).
    if (sandbox.docker) addDockerStorage(spec);
  },
  memoryPolicy: "guard",
  // The spec gives the nominal limit; the host's gets headroom, so the guard acts before it.
  afterStart: (sandbox) => setMemoryLimit(sandbox.id, gvisorHardLimitBytes(sandbox.memoryMiB)),
  // gVisor boots slower than runc (node's start alone is about 200 ms of it).
  agentReadyTimeoutMs: 30_000,
  networkNamespace: "inherit",
  docker: {
    // Docker's powers (every capability, mounts, devices) stay inside gVisor's kernel.
    rootOnHost: false,
    hostNetwork: true,
    // Docker needs cgroup v1 hierarchies mounted inside the sandbox, and has no bridge or
    // iptables here, so it runs with --bridge=none (services use host networking). Nor does it
    // forward: with a network, gVisor's host networking refuses writes to
    // /proc/sys/net/ipv4/ip_forward, and dockerd would not start.
    dockerdScript: (logFile) =>
      [
        "set -e",
        "mkdir -p /sys/fs/cgroup",
        "mount -t tmpfs cgroup /sys/fs/cgroup",
        "for c in cpu cpuacct cpuset memory devices pids job; do mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done",
        `exec dockerd --iptables=false --ip6tables=false --ip-forward=false --bridge=none >${logFile} 2>&1`,
      ].join("\n"),
  },
};

/**
 * runsc: the image directory is the read-only lower layer and gVisor keeps its own rootfs
 * overlay inside the sandbox, with the filestore on the sandbox's disk, never in the image.
 */
export class RunscRuntime extends OciRuntime {
  readonly name = "runsc" as const;
  readonly binary = "runsc";
  readonly profile = runscProfile;

  /**
   * A sandbox with a network uses the host's network stack (--network=host) of the namespace
   * runsc starts in: gVisor's own stack refuses every namespace with this runsc on this kernel
   * (see PLATFORM.md). Every call for that sandbox says so, or runsc refuses it.
   */
  globalArgs(target: RuntimeTarget | undefined): string[] {
    const network = target?.netns ? "--network=host" : "--network=none";
    const args = ["--root", this.root, network, "--host-uds=create"];
    if (target?.paths) args.push(`--overlay2=root:dir=${target.paths.overlayStore}`);
    // Docker inside gVisor needs raw sockets.
    if (target?.docker) args.push("--net-raw");
    return args;
  }

  /** The sandbox's processes are made in the namespace `run` starts in (nsenter, not `ip netns exec`, which remounts /sys). */
  protected override runPrefix(target: RuntimeTarget): string[] {
    return target.netns ? ["nsenter", `--net=${target.netns}`] : [];
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
