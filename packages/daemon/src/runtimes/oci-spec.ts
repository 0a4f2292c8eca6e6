import {
  AGENT_ENV,
  AGENT_NODE_ARGV,
  AGENT_RUNTIME_DIR,
  AGENT_SOCKET_DIR,
  AGENT_SOCKET_NAME,
  SANDBOX_PATH,
} from "@paddock/protocol";
import type { SandboxRecord } from "../state/sandbox-store.js";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, grantableCapabilities } from "./capabilities.js";
import { sandboxOpenFilesLimit } from "./rlimits.js";
import { RUNTIME_PROFILES } from "./index.js";
import { DEFAULT_LIMITS, type SandboxLimits } from "../config.js";

/** The agent reads its caps from these variables. */
function limitEnv(limits: SandboxLimits): string[] {
  return [
    `${AGENT_ENV.maxUploadBytes}=${limits.maxUploadBytes}`,
    `${AGENT_ENV.maxProcesses}=${limits.maxProcesses}`,
    `${AGENT_ENV.processHistoryBytes}=${limits.processHistoryBytes}`,
  ];
}

/** The host cgroup's pids limit of a sandbox, as its runtime's profile sets it. */
export function hostPidsLimit(sandbox: Pick<SandboxRecord, "pidsLimit" | "runtime">): number {
  return RUNTIME_PROFILES[sandbox.runtime].hostPidsLimit(sandbox.pidsLimit);
}

export interface SpecInput {
  sandbox: SandboxRecord;
  rootfs: string;
  /** Host dir (a read-only mount) holding node, its libraries, the loader, tini and agent.js. */
  agentRuntimeDir: string;
  socketDir: string;
  /** Where the container's cgroup goes, relative to each controller's root. */
  cgroupsPath: string;
  capabilities?: readonly string[];
  /** Caps the agent enforces, passed in its environment. */
  limits?: SandboxLimits;
  /** The image's WorkingDir and User: the cwd and user of processes that name none. */
  processDefaults?: { cwd?: string | null; user?: string | null };
  /** The sandbox's network namespace (a path), when it has a network. */
  netnsPath?: string;
}

/**
 * The OCI runtime spec of a sandbox. PID 1 is tini, so orphaned grandchildren get reaped; its
 * child is the agent, run by the host's node through the host's loader, so any image works.
 * What differs by runtime (Docker's needs included) is added by its profile's adjustSpec.
 */
export function buildSpec(input: SpecInput): Record<string, unknown> {
  const { sandbox } = input;
  const caps = grantableCapabilities(
    input.capabilities ?? (sandbox.docker ? ALL_CAPABILITIES : DEFAULT_CAPABILITIES),
  );
  const rt = AGENT_RUNTIME_DIR;
  const nofile = sandboxOpenFilesLimit();
  // The init's and agent's own environment; the user's env travels as JSON for user processes
  // only (NODE_OPTIONS or LD_PRELOAD must not reach the agent's node).
  const env = [
    `PATH=${SANDBOX_PATH}`,
    "HOME=/root",
    `${AGENT_ENV.userEnv}=${JSON.stringify(sandbox.env)}`,
    `${AGENT_ENV.socket}=${AGENT_SOCKET_DIR}/${AGENT_SOCKET_NAME}`,
    `${AGENT_ENV.sandboxId}=${sandbox.id}`,
    ...limitEnv(input.limits ?? DEFAULT_LIMITS),
  ];
  const defaults = input.processDefaults;
  if (defaults?.cwd) env.push(`${AGENT_ENV.defaultCwd}=${defaults.cwd}`);
  if (defaults?.user) env.push(`${AGENT_ENV.defaultUser}=${defaults.user}`);
  if (input.netnsPath) env.push(`${AGENT_ENV.network}=1`);
  const profile = RUNTIME_PROFILES[sandbox.runtime];
  const spec = {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [
        `${rt}/tini`,
        "-s",
        "--",
        // Holds the agent's socket and starts the agent again if it dies.
        `${rt}/paddock-init`,
        ...AGENT_NODE_ARGV,
        // A bounded heap makes V8 collect early, so streaming output keeps the agent small.
        "--max-old-space-size=128",
        `${rt}/agent.js`,
      ],
      env,
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: nofile, soft: nofile }],
      noNewPrivileges: false,
    },
    root: { path: input.rootfs, readonly: false },
    hostname: sandbox.id.replace(/_/g, "-"),
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
      {
        destination: AGENT_RUNTIME_DIR,
        type: "bind",
        source: input.agentRuntimeDir,
        options: ["rbind", "ro", "nosuid", "nodev"],
      },
      {
        // A tiny tmpfs on the host (see socket-dir.ts), read-only once the agent listens.
        destination: AGENT_SOCKET_DIR,
        type: "bind",
        source: input.socketDir,
        options: ["rbind", "rw", "nosuid", "nodev", "noexec"],
      },
    ],
    linux: {
      namespaces: [
        { type: "pid" },
        ...networkNamespace(input.netnsPath, profile.networkNamespace),
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
      ],
      cgroupsPath: input.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: "rwm" }],
        memory: { limit: sandbox.memoryMiB * 1024 * 1024 },
        cpu: { quota: Math.round(sandbox.cpu * 100_000), period: 100_000 },
        pids: { limit: hostPidsLimit(sandbox) },
      },
      maskedPaths: [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
  profile.adjustSpec(spec, sandbox);
  return spec;
}

/**
 * Without a network, an empty namespace of its own (loopback only). With one, the sandbox's
 * namespace by path, or none in the spec when the runtime is started inside it.
 */
function networkNamespace(
  netnsPath: string | undefined,
  how: "spec" | "inherit",
): { type: "network"; path?: string }[] {
  if (!netnsPath) return [{ type: "network" }];
  return how === "spec" ? [{ type: "network", path: netnsPath }] : [];
}
