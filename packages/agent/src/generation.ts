import { AGENT_ENV } from "@paddock/protocol";

/** How many times paddock-init has started the agent in this sandbox (1: never restarted). */
export const agentStarts = Number(process.env[AGENT_ENV.generation] ?? 1) || 1;
