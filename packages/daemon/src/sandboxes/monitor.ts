import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import type { SandboxStore } from "../state/sandbox-store.js";
import { every } from "./periodic.js";
import { kernelOomKills } from "./cgroup-memory.js";
import type { SandboxService } from "./sandbox-service.js";

/**
 * Notices sandboxes that died on their own: the agent stopped answering (it was killed, or an
 * OOM or a fork bomb took it) and the container has exited. Such a sandbox is marked failed
 * and cleaned up, so calls get a clear 409 instead of hanging on a dead socket.
 */
export function startMonitor(
  store: SandboxStore,
  service: SandboxService,
  intervalMs: number,
  log: Logger,
): () => void {
  return every(intervalMs, async () => {
    for (const record of store.inStates(["running"])) {
      if (await service.isAlive(record)) continue;
      // Paused meanwhile (a checkpointed sandbox has no container): not dead.
      if (store.get(record.id)?.state !== "running") continue;
      const outOfMemory = (await kernelOomKills(record.id)) > 0;
      const reason = outOfMemory
        ? "the sandbox ran out of memory and was killed whole; give it more memoryMiB"
        : "the sandbox's agent died and its container exited";
      log.warn({ id: record.id, reason }, "sandbox died");
      await service
        .end(record, "failed", reason)
        .catch((err: unknown) =>
          log.error({ id: record.id, err: errorMessage(err) }, "cleanup of a dead sandbox failed"),
        );
    }
  });
}
