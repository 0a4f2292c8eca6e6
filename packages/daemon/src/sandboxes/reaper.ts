import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import type { SandboxStore } from "../state/sandbox-store.js";
import { every } from "./periodic.js";
import type { SandboxService } from "./sandbox-service.js";

/** Ended sandboxes stay visible to `get` this long. */
const KEEP_ENDED_MS = 24 * 3600 * 1000;

/** Terminates sandboxes past their timeout, checking every `intervalMs`. */
export function startReaper(
  store: SandboxStore,
  service: SandboxService,
  intervalMs: number,
  log: Logger,
): () => void {
  return every(intervalMs, async () => {
    const now = Date.now();
    await Promise.all(
      store
        .expired(now)
        .map((id) =>
          service
            .terminate(id, "timeout")
            .catch((err: unknown) => log.error({ id, err: errorMessage(err) }, "reaping failed")),
        ),
    );
    store.pruneEnded(now - KEEP_ENDED_MS);
  });
}
