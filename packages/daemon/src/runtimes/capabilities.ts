import { readFileSync } from "node:fs";

/** Linux capability numbers, as in <linux/capability.h>. */
const CAP_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
};

/** Every capability; a Docker sandbox needs nearly all of them for dockerd and its containers. */
export const ALL_CAPABILITIES = Object.keys(CAP_NUMBERS);

/** What a sandbox gets unless it asks for more: Docker's default set. */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Parses the CapBnd mask of /proc/<pid>/status into capability names. */
export function parseBoundingSet(status: string): Set<string> {
  const match = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (!match) throw new Error("no CapBnd line in process status");
  const mask = BigInt(`0x${match[1]}`);
  const names = new Set<string>();
  for (const [name, bit] of Object.entries(CAP_NUMBERS)) {
    if ((mask >> BigInt(bit)) & 1n) names.add(name);
  }
  return names;
}

let ownBoundingSet: Set<string> | undefined;

/** The daemon's own bounding set: a runtime cannot grant a capability outside it. */
export function daemonBoundingSet(): Set<string> {
  ownBoundingSet ??= parseBoundingSet(readFileSync("/proc/self/status", "utf8"));
  return ownBoundingSet;
}

/**
 * Requested capabilities limited to those the daemon holds. Asking runc for one outside the
 * bounding set fails the whole container ("unable to apply caps").
 */
export function grantableCapabilities(
  requested: readonly string[],
  bounding = daemonBoundingSet(),
): string[] {
  return requested.filter((cap) => bounding.has(cap));
}
