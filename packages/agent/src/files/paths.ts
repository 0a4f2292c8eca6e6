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
  if (resolved === RESERVED_PREFIX || resolved.startsWith(`${RESERVED_PREFIX}/`)) {
    throw new AgentError("permission_denied", `${RESERVED_PREFIX} is reserved for Paddock's agent`);
  }
  return resolved;
}

export function parseMode(text: string | null, fallback: number | undefined): number | undefined {
  if (text === null || text === "") return fallback;
  if (!/^0?[0-7]{3,4}$/.test(text))
    throw new AgentError("invalid_request", "mode is octal, like 644 or 0755");
  return parseInt(text, 8);
}

export const flag = (text: string | null, fallback: boolean): boolean =>
  text === null ? fallback : text === "true";
