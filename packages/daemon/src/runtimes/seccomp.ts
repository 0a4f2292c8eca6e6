import { SECCOMP_DENY_RULES, type SeccompDenyRule } from "./seccomp-profile.js";

/** The errno values the rules use, from <asm-generic/errno-base.h> and <asm-generic/errno.h>. */
const ERRNO: Record<SeccompDenyRule["errno"], number> = { EPERM: 1, ENOSYS: 38 };

/**
 * As Docker: x86_64 and the two other ABIs an x86_64 kernel accepts from the same process
 * (i386 through `int 0x80`, x32), so a call refused in one cannot be made through another.
 * Neither reaches the kernel on the VMs this was tested on (`int 0x80` faults, x32 is not
 * built in); the rules are there for hosts where they do.
 */
export const SECCOMP_ARCHITECTURES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/** `linux.seccomp` of the OCI runtime spec. */
export interface OciSeccomp {
  defaultAction: "SCMP_ACT_ALLOW";
  architectures: string[];
  syscalls: {
    names: string[];
    action: "SCMP_ACT_ERRNO";
    errnoRet: number;
    args?: { index: number; value: number; valueTwo: number; op: string }[];
  }[];
}

/**
 * The seccomp filter of a runc sandbox: every call allowed but those of SECCOMP_DENY_RULES,
 * which fail with their errno. Not for runsc (gVisor's own kernel is the boundary there, and
 * the host sees only gVisor's calls) nor for Docker sandboxes, whose dockerd needs mount,
 * namespaces and the rest.
 */
export function runcSeccomp(rules: readonly SeccompDenyRule[] = SECCOMP_DENY_RULES): OciSeccomp {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: [...SECCOMP_ARCHITECTURES],
    syscalls: rules.map((rule) => ({
      names: [...rule.names],
      action: "SCMP_ACT_ERRNO",
      errnoRet: ERRNO[rule.errno],
      ...(rule.args ? { args: rule.args.map((a) => ({ ...a, valueTwo: a.valueTwo ?? 0 })) } : {}),
    })),
  };
}
