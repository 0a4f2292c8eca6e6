import {
  AGENT_ENV,
  DEFAULT_PROCESS_HISTORY_BYTES,
  DEFAULT_SANDBOX_LIMITS,
  DEFAULT_TOTAL_HISTORY_BYTES,
  SANDBOX_PATH,
} from "@paddock/protocol";
import { registerCodeRoutes } from "./code/routes.js";
import { registerDnsRoutes } from "./dns/routes.js";
import { registerEnvRoute } from "./env-route.js";
import { registerFileRoutes } from "./files/routes.js";
import { registerMemoryRoutes } from "./memory/oom-kill.js";
import { registerPortRoutes } from "./ports/tunnel.js";
import { registerProcessRoutes } from "./processes/routes.js";
import { ProcessTable } from "./processes/process-table.js";
import { Spawner } from "./processes/spawner.js";
import type { Router } from "./router.js";
import { userEnv } from "./user-env.js";

const numberFromEnv = (name: string, fallback: number) =>
  Number(process.env[name] ?? fallback) || fallback;

/** Every route but health; loaded after the agent is already answering. */
export function registerRoutes(router: Router): void {
  const fixedEnv = {
    PATH: SANDBOX_PATH,
    HOME: "/root",
    [AGENT_ENV.sandboxId]: process.env[AGENT_ENV.sandboxId],
  };
  // Replaced in place by PUT /env (env-route.ts).
  const baseEnv = { ...fixedEnv, ...userEnv() };
  const table = new ProcessTable({
    baseEnv,
    historyBytes: numberFromEnv(AGENT_ENV.processHistoryBytes, DEFAULT_PROCESS_HISTORY_BYTES),
    totalHistoryBytes: numberFromEnv(AGENT_ENV.totalHistoryBytes, DEFAULT_TOTAL_HISTORY_BYTES),
    killGraceMs: numberFromEnv("PADDOCK_KILL_GRACE_MS", 2000),
    keepEnded: 64,
    maxRunning: numberFromEnv(AGENT_ENV.maxProcesses, DEFAULT_SANDBOX_LIMITS.maxProcesses),
    defaultCwd: process.env[AGENT_ENV.defaultCwd] || undefined,
    defaultUser: process.env[AGENT_ENV.defaultUser] || undefined,
  });
  registerProcessRoutes(router, table);
  registerCodeRoutes(router, table);
  registerFileRoutes(router, {
    maxUploadBytes: numberFromEnv(AGENT_ENV.maxUploadBytes, DEFAULT_SANDBOX_LIMITS.maxUploadBytes),
  });
  registerPortRoutes(router);
  registerMemoryRoutes(router, () => Spawner.helperPids());
  registerDnsRoutes(router);
  registerEnvRoute(router, baseEnv, fixedEnv);
}
