/**
 * The seccomp deny list of runc sandboxes, as data. runc has no kernel of its own between the
 * sandbox and the host (gVisor does), so the syscalls that reach kernel code no container
 * needs are refused here: everything Docker's default profile refuses a container with
 * Docker's default capabilities (which are ours, see DEFAULT_CAPABILITIES), plus io_uring and
 * AF_VSOCK sockets.
 *
 * Docker's profile is an allowlist (moby `profiles/seccomp/default.json`); this is its
 * complement, computed against the x86_64 and i386 syscall tables and checked name by name,
 * so that a new harmless syscall does not break a program in a sandbox. Sources named below:
 *   [docs]   Docker's documentation "Seccomp security profiles for Docker", its table of
 *            "significant syscalls blocked by the default profile".
 *   [moby]   moby's default.json: not in the allowlist at all, or allowed only with a
 *            capability a sandbox does not have (named), or only for some argument values.
 *   [#46762] moby pull request 46762 (Docker Engine 25): io_uring_* removed from the allowlist.
 *
 * Left allowed on purpose, as Docker allows them: ptrace, process_vm_readv/writev (kernel
 * 4.8+ checks seccomp after a tracer's changes), chroot (CAP_SYS_CHROOT is a default
 * capability), arch_prctl, modify_ldt, and i386 calls that reach no privileged kernel code
 * (nice, signal, sigaction, old*stat, olduname...). Docker refuses those last ones only
 * because its list is an allowlist; a 32-bit program may still use them.
 *
 * runc skips, without an error, a name its libseccomp cannot resolve (libseccomp 2.5.4 here
 * knows none after futex_requeue, Linux 6.7), so a name is enforced only where it resolves;
 * tests/integration/seccomp.test.ts checks the ones that matter from inside a sandbox.
 */

/** A condition on one argument of the call, in the OCI runtime spec's terms. */
export interface SeccompArgCondition {
  index: number;
  /** With SCMP_CMP_MASKED_EQ: the mask. */
  value: number;
  /** With SCMP_CMP_MASKED_EQ: what `argument & value` must equal. */
  valueTwo?: number;
  op: "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ";
}

export interface SeccompDenyRule {
  /** Syscall names as libseccomp spells them. */
  names: readonly string[];
  /** What the caller gets instead. ENOSYS where a libc falls back on it (clone3). */
  errno: "EPERM" | "ENOSYS";
  /**
   * The call is refused only when all of these hold. At most one per argument: runc turns
   * several conditions on one argument into separate rules (an OR), so write separate rules.
   */
  args?: readonly SeccompArgCondition[];
  /** Where the rule comes from, for the audit. */
  why: string;
}

/** Refused when `argument index` has `flag` set, whatever its other bits. */
function flagSet(index: number, flag: number): SeccompArgCondition[] {
  return [{ index, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }];
}

// <linux/sched.h>: the namespace flags of clone(2). Docker's profile allows clone only when
// `flags & 0x7E020000` (all seven) is 0; the same, as one deny rule per flag.
const CLONE_NAMESPACE_FLAGS: Record<string, number> = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
};

// <linux/personality.h>: PER_CLEAR_ON_SETID, the flags the kernel itself treats as security
// relevant (it clears them on a setuid exec). Docker allows personality(2) only for the values
// 0, 8, 0x20000, 0x20008 and 0xffffffff; a deny list cannot say "none of five values" (see
// `args`), so it refuses these flags instead. This also refuses the query 0xffffffff, which
// has every bit set; no program in our images asks it (setarch does, to print).
const PERSONALITY_FLAGS: Record<string, number> = {
  ADDR_NO_RANDOMIZE: 0x0040000,
  MMAP_PAGE_ZERO: 0x0100000,
  ADDR_COMPAT_LAYOUT: 0x0200000,
  READ_IMPLIES_EXEC: 0x0400000,
};

/** <linux/socket.h>: AF_VSOCK reaches the hypervisor's host, outside every namespace. */
export const AF_VSOCK = 40;

export const SECCOMP_DENY_RULES: readonly SeccompDenyRule[] = [
  {
    names: ["add_key", "keyctl", "request_key"],
    errno: "EPERM",
    why: "[docs] the kernel keyring is not namespaced; [moby] not allowed",
  },
  {
    names: [
      "create_module",
      "delete_module",
      "finit_module",
      "init_module",
      "get_kernel_syms",
      "query_module",
    ],
    errno: "EPERM",
    why: "[docs] kernel modules; [moby] allowed only with CAP_SYS_MODULE, or not at all",
  },
  {
    names: ["kexec_load", "kexec_file_load"],
    errno: "EPERM",
    why: "[docs] loading a new kernel; [moby] not allowed",
  },
  {
    names: ["bpf", "perf_event_open", "lookup_dcookie", "fanotify_init", "syslog"],
    errno: "EPERM",
    why: "[docs] kernel tracing, eBPF and the kernel log; [moby] allowed only with CAP_SYS_ADMIN (or CAP_BPF, CAP_PERFMON, CAP_SYSLOG)",
  },
  {
    names: [
      "mount",
      "umount",
      "umount2",
      "pivot_root",
      "mount_setattr",
      "move_mount",
      "open_tree",
      // Linux 6.15; libseccomp 2.5.4 cannot resolve it, so this runc skips it (see above).
      "open_tree_attr",
      "fsopen",
      "fsconfig",
      "fsmount",
      "fspick",
    ],
    errno: "EPERM",
    why: "[docs] mount, umount, umount2, pivot_root; [moby] the mount API is allowed only with CAP_SYS_ADMIN",
  },
  {
    names: ["setns", "unshare"],
    errno: "EPERM",
    why: "[docs] namespaces, and with them user namespaces and the kernel surface they open; [moby] allowed only with CAP_SYS_ADMIN",
  },
  {
    names: ["sethostname", "setdomainname"],
    errno: "EPERM",
    why: "[moby] allowed only with CAP_SYS_ADMIN",
  },
  {
    names: ["name_to_handle_at", "open_by_handle_at"],
    errno: "EPERM",
    why: "[docs] file handles escape a bind mount (the 'shocker' breakout); [moby] open_by_handle_at only with CAP_DAC_READ_SEARCH",
  },
  {
    names: [
      "clock_settime",
      "clock_settime64",
      "settimeofday",
      "stime",
      "clock_adjtime",
      "clock_adjtime64",
    ],
    errno: "EPERM",
    why: "[docs] time is not namespaced; [moby] setting it only with CAP_SYS_TIME",
  },
  {
    names: ["quotactl", "quotactl_fd"],
    errno: "EPERM",
    why: "[docs] quotactl; [moby] allowed only with CAP_SYS_ADMIN",
  },
  {
    names: ["reboot", "acct", "swapon", "swapoff", "vhangup"],
    errno: "EPERM",
    why: "[docs] reboot, acct, swapon, swapoff; [moby] allowed only with CAP_SYS_BOOT, CAP_SYS_PACCT, CAP_SYS_TTY_CONFIG, or not at all",
  },
  {
    names: ["sysfs", "_sysctl", "uselib", "ustat", "nfsservctl", "bdflush"],
    errno: "EPERM",
    why: "[docs] obsolete calls; [moby] not allowed",
  },
  {
    names: ["userfaultfd"],
    errno: "EPERM",
    why: "[docs] userfaultfd makes kernel races easy to win; [moby] not allowed",
  },
  {
    names: ["vm86", "vm86old", "iopl", "ioperm"],
    errno: "EPERM",
    why: "[docs] vm86, vm86old, iopl, ioperm; [moby] I/O ports only with CAP_SYS_RAWIO",
  },
  {
    names: [
      "get_mempolicy",
      "set_mempolicy",
      "set_mempolicy_home_node",
      "mbind",
      "move_pages",
      "migrate_pages",
    ],
    errno: "EPERM",
    why: "[docs] NUMA memory policy; [moby] allowed only with CAP_SYS_NICE, or not at all",
  },
  {
    names: ["kcmp", "pidfd_getfd", "process_madvise"],
    errno: "EPERM",
    why: "[docs] kcmp; [moby] allowed only with CAP_SYS_PTRACE",
  },
  {
    names: ["afs_syscall", "getpmsg", "putpmsg", "security", "tuxcall", "vserver"],
    errno: "EPERM",
    why: "[moby] not allowed (unimplemented in Linux; refused so the set matches Docker's)",
  },
  {
    names: ["io_uring_setup", "io_uring_enter", "io_uring_register"],
    errno: "EPERM",
    why: "[#46762] io_uring's operations bypass seccomp and it is a frequent source of kernel exploits; libuv (node) falls back to its thread pool",
  },
  {
    names: ["clone3"],
    errno: "ENOSYS",
    why: "[moby] clone3 takes its flags in memory seccomp cannot read; ENOSYS as Docker, so glibc falls back to clone",
  },
  ...Object.entries(CLONE_NAMESPACE_FLAGS).map(([flag, bit]): SeccompDenyRule => ({
    names: ["clone"],
    errno: "EPERM",
    args: flagSet(0, bit),
    why: `[docs] clone, [moby] allowed only without namespace flags: ${flag}`,
  })),
  {
    names: ["socket"],
    errno: "EPERM",
    // The kernel reads the domain as an int: compare the low 32 bits only, or 40 + (1 << 32)
    // would pass the filter and still open a vsock socket. On i386, libseccomp refuses every
    // socketcall(SYS_SOCKET), whose arguments it cannot read, as it does for Docker.
    args: [{ index: 0, value: 0xffffffff, valueTwo: AF_VSOCK, op: "SCMP_CMP_MASKED_EQ" }],
    why: "[moby] socket is allowed only when the domain is not AF_VSOCK: vsock is not namespaced (on a VM it reaches the hypervisor)",
  },
  ...Object.entries(PERSONALITY_FLAGS).map(([flag, bit]): SeccompDenyRule => ({
    names: ["personality"],
    errno: "EPERM",
    args: flagSet(0, bit),
    why: `[docs] personality, [moby] allowed only for five values: ${flag}`,
  })),
];
