import type { RuntimeName } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import { RUNTIME_PROFILES } from "../runtimes/index.js";

/** Who asks for a sandbox: the admin token or a named API key (the API's principal). */
export interface Caller {
  admin: boolean;
  /** The key's name; null for the admin. */
  name: string | null;
}

/** What the daemon's operator allows beyond the defaults (`paddock serve` flags). */
export interface CreatePolicy {
  /** Docker under runc, for the admin token only (`--allow-runc-docker`). */
  allowRuncDocker: boolean;
}

export const DEFAULT_CREATE_POLICY: CreatePolicy = { allowRuncDocker: false };

/**
 * Why this caller may not have this sandbox, or undefined when it may. Docker under runc (its
 * profile's docker.rootOnHost) is the one such sandbox: dockerd there needs every capability,
 * every device and a writable cgroup mount, and with those a process inside runs programs as
 * root on the host (cgroup v1's release_agent, a raw disk device). Under gVisor the same powers
 * stay inside gVisor's kernel, so Docker sandboxes run on runsc. An operator who trusts the
 * admin token's holders may allow runc for it; an API key never gets it.
 */
export function createRefusal(
  spec: { runtime: RuntimeName; docker: boolean },
  caller: Caller,
  policy: CreatePolicy,
): string | undefined {
  if (!spec.docker || !RUNTIME_PROFILES[spec.runtime].docker.rootOnHost) return undefined;
  if (policy.allowRuncDocker && caller.admin) return undefined;
  const why =
    "runtime runc with docker: true is refused: Docker under runc gives the sandbox root on the host " +
    "(it needs every capability, every device and a writable cgroup mount); " +
    "use runtime runsc (gVisor, the default) for Docker sandboxes";
  return caller.admin
    ? `${why}; the daemon's operator can allow it for the admin token with \`paddock serve --allow-runc-docker\` (trusted users only)`
    : `${why}; API keys never get Docker under runc`;
}

/**
 * Throws a 403 that says why and what to use when this caller may not have this sandbox. Called
 * before anything is made, so a refusal leaves no row, directory or container behind.
 */
export function checkCreatePolicy(
  spec: { runtime: RuntimeName; docker: boolean },
  caller: Caller,
  policy: CreatePolicy,
): void {
  const refusal = createRefusal(spec, caller, policy);
  if (refusal)
    throw new PaddockError("forbidden", refusal, { runtime: spec.runtime, docker: true });
}

/** The caller a stored sandbox was made for: its owner's key, or the admin when it has none. */
export const ownerOf = (owner: string | null): Caller => ({ admin: owner === null, name: owner });
