import { realpathSync } from "node:fs";
import path from "node:path";
import { RESERVED_PREFIX } from "@paddock/protocol";
import { AgentError } from "../router.js";

/**
 * A sandbox path made canonical ("a/../b" → "b"). Inside the sandbox "/.." is "/", so no path
 * can leave its root; the agent's own directory is refused.
 */
export function sandboxPath(p: string): string {
  if (p.includes("\0")) throw new AgentError("invalid_request", "paths cannot contain NUL");
  if (!p.startsWith("/"))
    throw new AgentError("invalid_request", "paths in the sandbox are absolute (start with /)");
  const resolved = path.posix.resolve(p);
  refuseReserved(resolved);
  return resolved;
}

export function refuseReserved(p: string): void {
  if (p === RESERVED_PREFIX || p.startsWith(`${RESERVED_PREFIX}/`)) {
    throw new AgentError("permission_denied", `${RESERVED_PREFIX} is reserved for Paddock's agent`);
  }
}

/**
 * Real paths of directories already resolved, kept for one batch: a batch of a thousand files
 * in ten directories resolves ten parents, not a thousand. Cleared when the batch makes a symlink.
 */
export type RealPathCache = Map<string, string>;

/** The real path of the deepest existing ancestor of `p`, with the rest appended. */
function realAncestor(p: string, cache?: RealPathCache): string {
  const known = cache?.get(p);
  if (known !== undefined) return known;
  let real: string;
  try {
    real = realpathSync.native(p);
  } catch {
    const parent = path.posix.dirname(p);
    if (parent === p) return p;
    real = path.posix.join(realAncestor(parent, cache), path.posix.basename(p));
  }
  cache?.set(p, real);
  return real;
}

/**
 * sandboxPath, and also refused when a symlink among its parents leads into the agent's own
 * directory (`ln -s /.paddock /tmp/pd`, then /tmp/pd/sock). The final component is followed
 * only for operations that follow it (read, list, find); others act on a link itself.
 * Synchronous on purpose: under gVisor a few direct calls cost less than one thread-pool hop.
 */
export function realSandboxPath(
  p: string,
  options: { followFinal?: boolean; cache?: RealPathCache } = {},
): string {
  const resolved = sandboxPath(p);
  const real = options.followFinal
    ? realAncestor(resolved)
    : path.posix.join(
        realAncestor(path.posix.dirname(resolved), options.cache),
        path.posix.basename(resolved),
      );
  refuseReserved(real);
  return resolved;
}
