import { AGENT_ENV_ROUTE, AgentEnvSchema, ENV_LIMITS } from "@paddock/protocol";
import { readJson } from "./http-body.js";
import { sendJson, type Router } from "./router.js";

/** Room for create's largest env (ENV_LIMITS) with an image's env beside it. */
const BODY_LIMIT = 2 * ENV_LIMITS.count * (ENV_LIMITS.valueLength + 256);

/**
 * `PUT /env`: replaces the sandbox's env for the processes started from then on; running ones
 * keep theirs. A claimed warm-pool sandbox gets its creator's env this way. `env` is the object
 * the process table copies at every start: it is rebuilt in place as at the agent's start, the
 * `fixed` entries (PATH, HOME, the sandbox id) first and the sandbox's env over them.
 */
export function registerEnvRoute(
  router: Router,
  env: NodeJS.ProcessEnv,
  fixed: NodeJS.ProcessEnv,
): void {
  router.on("PUT", AGENT_ENV_ROUTE, async (req, res) => {
    const next = await readJson(req, AgentEnvSchema, BODY_LIMIT);
    for (const key of Object.keys(env)) delete env[key];
    Object.assign(env, fixed, next);
    sendJson(res, 200, { count: Object.keys(next).length });
  });
}
