import { registerFileRoutes } from "./files/routes.js";
import { registerMemoryRoutes } from "./memory/oom-kill.js";
import { registerPortRoutes } from "./ports/tunnel.js";
import { registerProcessRoutes } from "./processes/routes.js";
import { ProcessTable } from "./processes/process-table.js";
import { Spawner } from "./processes/spawner.js";
import type { Router } from "./router.js";

/** The environment processes start from: the sandbox's own, less the agent's private settings. */
function sandboxEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of [
    "PADDOCK_AGENT_SOCKET",
    "PADDOCK_MAX_UPLOAD_BYTES",
    "PADDOCK_MAX_PROCESSES",
    "PADDOCK_PROCESS_HISTORY_BYTES",
  ]) {
    delete env[name];
  }
  return env;
}

const numberFromEnv = (name: string, fallback: number) =>
  Number(process.env[name] ?? fallback) || fallback;

/** Every route but health; loaded after the agent is already answering. */
export function registerRoutes(router: Router): void {
  const table = new ProcessTable({
    baseEnv: sandboxEnv(),
    historyBytes: numberFromEnv("PADDOCK_PROCESS_HISTORY_BYTES", 1024 * 1024),
    killGraceMs: numberFromEnv("PADDOCK_KILL_GRACE_MS", 2000),
    keepEnded: 64,
    maxRunning: numberFromEnv("PADDOCK_MAX_PROCESSES", 256),
  });
  registerProcessRoutes(router, table);
  registerFileRoutes(router, {
    maxUploadBytes: numberFromEnv("PADDOCK_MAX_UPLOAD_BYTES", 16 * 1024 ** 3),
  });
  registerPortRoutes(router);
  registerMemoryRoutes(router, () => Spawner.helperPids());
}
