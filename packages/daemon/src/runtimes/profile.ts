import type { SandboxRecord } from "../state/sandbox-store.js";
import type { OciSeccomp } from "./seccomp.js";

/** A mount of the OCI runtime spec. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/** The parts of a sandbox's OCI spec (see buildSpec) that a runtime adjusts. */
export interface AdjustableSpec {
  process: { env: string[] };
  mounts: OciMount[];
  linux: {
    resources: { devices: { allow: boolean; access: string }[] };
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: OciSeccomp;
  };
}

/** How Docker inside a sandbox differs between runtimes. */
export interface DockerProfile {
  /** Docker here gives the sandbox root on the host: create refuses it unless the operator allows it. */
  readonly rootOnHost: boolean;
  /**
   * Docker's containers share the sandbox's network (there are no nested bridges): `docker run`
   * gets `--network host`, and `compose up` writes the host-network override unless told not to.
   */
  readonly hostNetwork: boolean;
  /** The shell script that starts dockerd, its output to `logFile`. Fixed text: nothing a user sends reaches it. */
  dockerdScript(logFile: string): string;
}

/**
 * Everything in which runc and runsc sandboxes differ, apart from the CLI flags and the rootfs
 * (OciRuntime's own methods). Generic code asks the sandbox's profile and never compares
 * runtime names; each runtime's file (runc.ts, runsc.ts) holds its profile whole.
 */
export interface RuntimeProfile {
  /** The host cgroup's pids limit for a sandbox whose user may run `pidsLimit` processes. */
  hostPidsLimit(pidsLimit: number): number;
  /** Adjusts the spec buildSpec made for `sandbox` (the part common to both runtimes). */
  adjustSpec(spec: AdjustableSpec, sandbox: SandboxRecord): void;
  /**
   * Who keeps memoryMiB per process. "kernel": the kernel's OOM killer in the sandbox's cgroup
   * kills the process and the memory guard only counts its kills. "guard": the kernel would
   * kill the whole sandbox, so the memory guard watches from outside and has the agent kill the
   * largest process first.
   */
  readonly memoryPolicy: "kernel" | "guard";
  /** Runs once the container has started, before the daemon waits for the agent. */
  afterStart(sandbox: SandboxRecord): Promise<void>;
  /** How long a new sandbox's agent may take to answer. */
  readonly agentReadyTimeoutMs: number;
  /**
   * How a sandbox with a network gets into its namespace. "spec": the spec's network namespace
   * entry names it by path. "inherit": the spec has no network namespace and the runtime is
   * started inside the sandbox's (see runPrefix).
   */
  readonly networkNamespace: "spec" | "inherit";
  readonly docker: DockerProfile;
}

/** dockerd's storage on a tmpfs: what every Docker sandbox gets, whatever its runtime. */
export function addDockerStorage(spec: AdjustableSpec): void {
  spec.mounts.push({
    destination: "/var/lib/docker",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "nodev", "mode=711"],
  });
}
