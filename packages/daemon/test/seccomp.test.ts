import { describe, expect, it } from "vitest";
import type { SandboxRecord } from "../src/state/sandbox-store.js";
import { buildSpec } from "../src/runtimes/oci-spec.js";
import { runcSeccomp, SECCOMP_ARCHITECTURES, type OciSeccomp } from "../src/runtimes/seccomp.js";
import { AF_VSOCK, SECCOMP_DENY_RULES } from "../src/runtimes/seccomp-profile.js";

const profile = runcSeccomp();
type Rule = OciSeccomp["syscalls"][number];

/** The rules naming a syscall. */
const rulesFor = (name: string): Rule[] => profile.syscalls.filter((r) => r.names.includes(name));
/** Refused whatever its arguments. */
const alwaysDenied = (name: string) => rulesFor(name).some((r) => !r.args);

describe("the runc seccomp profile", () => {
  it("allows by default and filters every x86 ABI, as Docker's does", () => {
    expect(profile.defaultAction).toBe("SCMP_ACT_ALLOW");
    expect(profile.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    expect(SECCOMP_ARCHITECTURES).toEqual(profile.architectures);
  });

  it.each([
    // Docker's documentation, "significant syscalls blocked by the default profile".
    ...["acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module"],
    ...["delete_module", "finit_module", "init_module", "get_kernel_syms", "query_module"],
    ...["kexec_load", "kexec_file_load", "keyctl", "request_key", "lookup_dcookie"],
    ...["mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen"],
    ...["fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at"],
    ...["open_by_handle_at", "perf_event_open", "quotactl", "reboot", "setns", "unshare"],
    ...["settimeofday", "stime", "swapon", "swapoff", "sysfs", "_sysctl", "uselib"],
    ...["userfaultfd", "ustat", "vm86", "vm86old", "nfsservctl", "iopl", "ioperm", "kcmp"],
    ...["get_mempolicy", "set_mempolicy", "mbind", "move_pages"],
    // Docker Engine 25 (moby#46762).
    ...["io_uring_setup", "io_uring_enter", "io_uring_register"],
  ])("refuses %s with EPERM whatever its arguments", (name) => {
    expect(alwaysDenied(name)).toBe(true);
    expect(rulesFor(name).map((r) => [r.action, r.errnoRet])).toEqual([["SCMP_ACT_ERRNO", 1]]);
  });

  it("refuses clone3 with ENOSYS, so glibc falls back to clone", () => {
    expect(rulesFor("clone3")).toEqual([
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
    ]);
  });

  it("refuses clone with any namespace flag (Docker's mask 0x7E020000), one rule per flag", () => {
    const clone = rulesFor("clone");
    expect(clone.every((r) => r.names.length === 1 && r.errnoRet === 1)).toBe(true);
    const flags = clone.map((r) => {
      expect(r.args).toHaveLength(1);
      const [arg] = r.args!;
      expect(arg).toMatchObject({ index: 0, op: "SCMP_CMP_MASKED_EQ" });
      expect(arg!.valueTwo).toBe(arg!.value);
      // One bit each.
      expect(arg!.value & (arg!.value - 1)).toBe(0);
      return arg!.value;
    });
    expect(flags.reduce((a, b) => a | b, 0)).toBe(0x7e020000);
    expect(flags).toHaveLength(7);
  });

  it("refuses AF_VSOCK sockets, comparing only the 32 bits the kernel reads", () => {
    expect(AF_VSOCK).toBe(40);
    expect(rulesFor("socket")).toEqual([
      {
        names: ["socket"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        args: [{ index: 0, value: 0xffffffff, valueTwo: 40, op: "SCMP_CMP_MASKED_EQ" }],
      },
    ]);
  });

  it("refuses the personality flags the kernel clears on setuid, and no other value", () => {
    const masks = rulesFor("personality").map((r) => {
      expect(r.args).toEqual([
        {
          index: 0,
          value: r.args![0]!.value,
          valueTwo: r.args![0]!.value,
          op: "SCMP_CMP_MASKED_EQ",
        },
      ]);
      return r.args![0]!.value;
    });
    // PER_CLEAR_ON_SETID: READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | MMAP_PAGE_ZERO.
    expect(masks.reduce((a, b) => a | b, 0)).toBe(0x0740000);
    // linux32 (PER_LINUX32) and uname26 (UNAME26), which Docker allows, stay allowed.
    for (const allowed of [0, 0x8, 0x20000, 0x20008]) {
      expect(masks.some((m) => (allowed & m) === m)).toBe(false);
    }
  });

  it("leaves alone what programs in a sandbox need and Docker allows", () => {
    for (const name of ["execve", "ptrace", "chroot", "seccomp", "prctl", "setresuid", "openat2"]) {
      expect(rulesFor(name)).toEqual([]);
    }
    // Conditional only: plain fork/threads and ordinary sockets go through.
    for (const name of ["clone", "socket", "personality"]) expect(alwaysDenied(name)).toBe(false);
  });

  it("keeps every rule auditable: a source, known errnos, one condition per argument", () => {
    for (const rule of SECCOMP_DENY_RULES) {
      expect(rule.why).toMatch(/\[(docs|moby|#46762)\]/);
      expect(rule.names.length).toBeGreaterThan(0);
      const indexes = (rule.args ?? []).map((a) => a.index);
      // runc would turn two conditions on one argument into an OR of two rules.
      expect(new Set(indexes).size).toBe(indexes.length);
    }
    for (const rule of profile.syscalls) expect([1, 38]).toContain(rule.errnoRet);
    const names = SECCOMP_DENY_RULES.filter((r) => !r.args).flatMap((r) => r.names);
    expect(new Set(names).size).toBe(names.length);
  });
});

function record(overrides: Partial<SandboxRecord>): SandboxRecord {
  return {
    id: "sb_0123456789abcdef",
    image: "busybox",
    runtime: "runc",
    state: "creating",
    cpu: 0.5,
    memoryMiB: 256,
    pidsLimit: 100,
    diskMiB: 1024,
    oomKills: 0,
    timeoutSeconds: 300,
    labels: {},
    env: {},
    createdAt: new Date(0).toISOString(),
    expiresAt: new Date(300_000).toISOString(),
    terminatedAt: null,
    reason: null,
    agentVersion: null,
    docker: false,
    owner: null,
    ...overrides,
  };
}

function seccompOf(overrides: Partial<SandboxRecord>): unknown {
  const spec = buildSpec({
    sandbox: record(overrides),
    rootfs: "/data/sandboxes/sb_0123456789abcdef/rootfs",
    agentRuntimeDir: "/data/agent-runtime/abc",
    socketDir: "/data/sandboxes/sb_0123456789abcdef/sock",
    cgroupsPath: "/paddock/sb_0123456789abcdef",
  }) as { linux: { seccomp?: unknown } };
  return spec.linux.seccomp;
}

describe("which sandboxes get the profile", () => {
  it("a runc sandbox does", () => {
    expect(seccompOf({ runtime: "runc" })).toEqual(profile);
  });

  it("a runsc sandbox does not: gVisor's own kernel is the boundary", () => {
    expect(seccompOf({ runtime: "runsc" })).toBeUndefined();
  });

  it("a Docker sandbox does not, under either runtime: dockerd needs mount and namespaces", () => {
    expect(seccompOf({ runtime: "runc", docker: true })).toBeUndefined();
    expect(seccompOf({ runtime: "runsc", docker: true })).toBeUndefined();
  });
});
