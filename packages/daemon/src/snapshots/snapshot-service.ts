import { mkdir, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { SnapshotInfo } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import type { Layout } from "../layout.js";
import type { Logger } from "../logger.js";
import type { Caller } from "../sandboxes/create-policy.js";
import { newSnapshotId } from "../sandboxes/ids.js";
import type {
  SandboxService,
  SnapshotFinder,
  SnapshotSource,
} from "../sandboxes/sandbox-service.js";
import type { SnapshotRecord, SnapshotStore } from "../state/snapshot-store.js";

export interface SnapshotServiceDeps {
  store: SnapshotStore;
  sandboxes: SandboxService;
  layout: Layout;
  log: Logger;
}

/** The public view of a snapshot: its owner and source record stay with the daemon. */
export function toSnapshotInfo(record: SnapshotRecord): SnapshotInfo {
  const { owner: _owner, sandbox: _sandbox, ...info } = record;
  return info;
}

/**
 * Snapshots: taken of a running sandbox (which keeps running), kept on the daemon's disk under
 * ids it made, across restarts, until deleted. A key sees only its own; the admin sees all.
 * A sandbox started from one owes it nothing once started, so deleting it harms no sandbox.
 */
export class SnapshotService implements SnapshotFinder {
  constructor(private readonly deps: SnapshotServiceDeps) {}

  async take(sandboxId: string, name: string | undefined, caller: Caller): Promise<SnapshotInfo> {
    const { store, sandboxes, layout, log } = this.deps;
    if (name !== undefined && store.byName(caller.name, name))
      throw new PaddockError(
        "conflict",
        `a snapshot named ${name} exists; delete it (\`paddock snapshot rm ${name}\`) or pick another name`,
      );
    const sandbox = sandboxes.get(sandboxId);
    const id = newSnapshotId();
    const dir = layout.snapshot(id);
    const t0 = performance.now();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const kind = await sandboxes.snapshotInto(sandboxId, dir);
      store.insert(
        {
          id,
          name: name ?? null,
          kind,
          sandboxId,
          sandbox,
          sizeBytes: await treeSize(dir),
          owner: caller.name,
        },
        Date.now(),
      );
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw asStorageError(err);
    }
    log.info({ id, sandboxId, ms: Math.round(performance.now() - t0) }, "snapshot taken");
    return toSnapshotInfo(store.get(id)!);
  }

  list(caller: Caller): SnapshotInfo[] {
    return this.deps.store.list(caller.admin ? undefined : caller.name).map(toSnapshotInfo);
  }

  get(ref: string, caller: Caller): SnapshotInfo {
    return toSnapshotInfo(this.record(ref, caller));
  }

  find(ref: string, caller: Caller): SnapshotSource {
    const record = this.record(ref, caller);
    return {
      id: record.id,
      kind: record.kind,
      dir: this.deps.layout.snapshot(record.id),
      sandbox: record.sandbox,
    };
  }

  async delete(ref: string, caller: Caller): Promise<SnapshotInfo> {
    const record = this.record(ref, caller);
    this.deps.store.delete(record.id);
    await rm(this.deps.layout.snapshot(record.id), { recursive: true, force: true });
    return toSnapshotInfo(record);
  }

  /** At daemon start: snapshot dirs no row claims (a crash mid-snapshot) are removed. */
  async sweep(): Promise<void> {
    const kept = new Set(this.deps.store.list().map((s) => s.id));
    const dirs = await readdir(this.deps.layout.snapshotsDir).catch(() => [] as string[]);
    for (const id of dirs.filter((d) => !kept.has(d))) {
      this.deps.log.warn({ id }, "removing a snapshot directory no snapshot claims");
      await rm(this.deps.layout.snapshot(id), { recursive: true, force: true });
    }
  }

  /** By id or name; another key's snapshot answers as a missing one does. */
  private record(ref: string, caller: Caller): SnapshotRecord {
    const { store } = this.deps;
    const record = ref.startsWith("snap_") ? store.get(ref) : store.byName(caller.name, ref);
    if (!record || (!caller.admin && record.owner !== caller.name))
      throw new PaddockError(
        "snapshot_not_found",
        `no snapshot ${ref}; list snapshots with \`paddock snapshot ls\``,
      );
    return record;
  }
}

/** Bytes of every file under `dir`. */
async function treeSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** A full disk is the operator's to fix, and says so (507); the sandbox kept running. */
function asStorageError(err: unknown): unknown {
  if (!/no space left|ENOSPC/i.test(errorMessage(err))) return err;
  return new PaddockError(
    "insufficient_storage",
    "the daemon's disk is full: the snapshot was not taken (the sandbox keeps running); free space or delete snapshots",
  );
}
