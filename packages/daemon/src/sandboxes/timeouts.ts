import { PaddockError } from "../errors.js";
import type { SandboxRecord, SandboxStore } from "../state/sandbox-store.js";

/**
 * Moves a sandbox's expiry so that it has `seconds` of running time left, shorter or longer than
 * before (E2B's setTimeout); its `timeoutSeconds` becomes `seconds`. The reaper ends a running
 * sandbox past its expiry.
 *
 * A paused sandbox's clock stands still (resume adds the time spent paused to its expiry), so
 * its expiry is counted from when it was paused: after resume it has `seconds` left.
 *
 * Synchronous from the state read to the write, so no other change of state falls between them.
 */
export function setSandboxTimeout(
  store: SandboxStore,
  record: SandboxRecord,
  seconds: number,
  now = Date.now(),
): SandboxRecord {
  const { id, state } = record;
  let from: number;
  switch (state) {
    case "running":
      from = now;
      break;
    case "paused":
      // A row paused before it recorded when (none should be) counts from now.
      from = record.pausedAt ? Date.parse(record.pausedAt) : now;
      break;
    case "creating":
    case "pausing":
    case "resuming":
      throw new PaddockError(
        "conflict",
        `sandbox ${id} is ${state}; set its timeout again once it is running`,
        { state },
      );
    case "terminating":
    case "terminated":
    case "failed":
      throw new PaddockError(
        "sandbox_not_running",
        `sandbox ${id} is ${state}; its timeout can no longer change, create a new one`,
        { state },
      );
    default:
      return state satisfies never;
  }
  store.setExpiry(id, seconds, from + seconds * 1000);
  return store.get(id)!;
}
