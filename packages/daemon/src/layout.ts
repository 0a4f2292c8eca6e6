import path from "node:path";
import { AGENT_SOCKET_NAME, type RuntimeName } from "@paddock/protocol";

/**
 * Every host path the daemon uses, derived from the data dir and ids it generated itself.
 * No path here is ever built from a path a user sent.
 */
export class Layout {
  constructor(readonly dataDir: string) {}

  get tokenFile(): string {
    return path.join(this.dataDir, "token");
  }
  get database(): string {
    return path.join(this.dataDir, "state.db");
  }
  get sandboxesDir(): string {
    return path.join(this.dataDir, "sandboxes");
  }
  /** Registry credentials (containers-auth.json), root only. */
  get registryAuthFile(): string {
    return path.join(this.dataDir, "registries", "auth.json");
  }
  get snapshotsDir(): string {
    return path.join(this.dataDir, "snapshots");
  }
  /** A snapshot's files (its id is the daemon's own). */
  snapshot(id: string): string {
    return path.join(this.snapshotsDir, id);
  }
  get agentRuntimesDir(): string {
    return path.join(this.dataDir, "agent-runtime");
  }
  runtimeRoot(runtime: RuntimeName): string {
    return path.join(this.dataDir, "state", runtime);
  }

  sandbox(id: string): SandboxPaths {
    const dir = path.join(this.sandboxesDir, id);
    return {
      dir,
      bundle: dir,
      config: path.join(dir, "config.json"),
      rootfs: path.join(dir, "rootfs"),
      diskImage: path.join(dir, "disk.img"),
      disk: path.join(dir, "disk"),
      upper: path.join(dir, "disk", "upper"),
      work: path.join(dir, "disk", "work"),
      overlayStore: path.join(dir, "disk", "overlay"),
      runtime: path.join(dir, "runtime"),
      socketDir: path.join(dir, "sock"),
      socket: path.join(dir, "sock", AGENT_SOCKET_NAME),
      log: path.join(dir, "agent.log"),
      checkpoint: path.join(dir, "checkpoint"),
    };
  }
}

export interface SandboxPaths {
  dir: string;
  bundle: string;
  config: string;
  /** runc: the overlay mount point. runsc uses the image's rootfs directly. */
  rootfs: string;
  /** The sparse file holding the sandbox's writable filesystem, and where it is mounted. */
  diskImage: string;
  disk: string;
  /** runc: overlay upper and work dirs, on the disk. */
  upper: string;
  work: string;
  /** runsc: where gVisor keeps its rootfs overlay filestore, on the disk, outside the image. */
  overlayStore: string;
  /** A read-only bind of the agent runtime dir: what the sandbox mounts at /.paddock/runtime. */
  runtime: string;
  /** A tiny tmpfs holding the agent's socket, read-only once the agent listens. */
  socketDir: string;
  socket: string;
  log: string;
  /** runsc: a paused sandbox's saved state (memory, processes, files), on the host. */
  checkpoint: string;
}
