import { realpath } from "node:fs/promises";
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

function refuseReserved(p: string): void {
  if (p === RESERVED_PREFIX || p.startsWith(`${RESERVED_PREFIX}/`)) {
    throw new AgentError("permission_denied", `${RESERVED_PREFIX} is reserved for Paddock's agent`);
  }
}

/** The real path of the deepest existing ancestor of `p`, with the rest appended. */
async function realAncestor(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    const parent = path.posix.dirname(p);
    if (parent === p) return p;
    return path.posix.join(await realAncestor(parent), path.posix.basename(p));
  }
}

/**
 * sandboxPath, and also refused when a symlink among its parents leads into the agent's own
 * directory (`ln -s /.paddock /tmp/pd`, then /tmp/pd/sock). The final component is followed
 * only for operations that follow it (read, list, find); others act on a link itself.
 */
export async function realSandboxPath(
  p: string,
  options: { followFinal?: boolean } = {},
): Promise<string> {
  const resolved = sandboxPath(p);
  const real = options.followFinal
    ? await realAncestor(resolved)
    : path.posix.join(
        await realAncestor(path.posix.dirname(resolved)),
        path.posix.basename(resolved),
      );
  refuseReserved(real);
  return resolved;
}
