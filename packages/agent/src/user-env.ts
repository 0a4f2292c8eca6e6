import { AGENT_ENV } from "@paddock/protocol";

/**
 * The sandbox's env for user processes. It reaches the agent as one JSON variable, never as
 * the agent's own environment, so `NODE_OPTIONS` or `LD_PRELOAD` set by a user cannot reach
 * the agent's node or its helpers. A value that is not an object of strings is ignored.
 */
export function userEnv(raw = process.env[AGENT_ENV.userEnv]): Record<string, string> {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return {};
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) if (typeof v === "string") env[k] = v;
  return env;
}
