import type Database from "better-sqlite3";
import type { SnapshotInfo } from "@paddock/protocol";
import type { SandboxRecord } from "./sandbox-store.js";

/** A snapshot as the daemon keeps it: its info, its owner, and the sandbox it was taken from. */
export interface SnapshotRecord extends SnapshotInfo {
  /** The API key that took it; null for the admin. */
  owner: string | null;
  /** The sandbox as it was when the snapshot was taken: a sandbox started from it is made alike. */
  sandbox: SandboxRecord;
}

interface Row {
  id: string;
  name: string | null;
  owner: string | null;
  kind: SnapshotInfo["kind"];
  sandbox_id: string;
  sandbox: string;
  size_bytes: number;
  created_at: number;
}

function fromRow(row: Row): SnapshotRecord {
  const sandbox = JSON.parse(row.sandbox) as SandboxRecord;
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    sandboxId: row.sandbox_id,
    runtime: sandbox.runtime,
    image: sandbox.image,
    sizeBytes: row.size_bytes,
    createdAt: new Date(row.created_at).toISOString(),
    owner: row.owner,
    sandbox,
  };
}

/** Snapshot rows; their files are the snapshot service's. */
export class SnapshotStore {
  constructor(private readonly db: Database.Database) {}

  insert(record: Omit<SnapshotRecord, "createdAt" | "runtime" | "image">, now: number): void {
    this.db
      .prepare(
        `INSERT INTO snapshots (id, name, owner, kind, sandbox_id, sandbox, size_bytes, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        record.id,
        record.name,
        record.owner,
        record.kind,
        record.sandboxId,
        JSON.stringify(record.sandbox),
        record.sizeBytes,
        now,
      );
  }

  get(id: string): SnapshotRecord | undefined {
    const row = this.db.prepare(`SELECT * FROM snapshots WHERE id = ?`).get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /** The owner's snapshot called `name` (null owner: the admin's). */
  byName(owner: string | null, name: string): SnapshotRecord | undefined {
    const row = this.db
      .prepare(`SELECT * FROM snapshots WHERE COALESCE(owner, '') = ? AND name = ?`)
      .get(owner ?? "", name) as Row | undefined;
    return row && fromRow(row);
  }

  /** Every snapshot, or the owner's only when `owner` is given (null: the admin's). */
  list(owner?: string | null): SnapshotRecord[] {
    const rows = this.db.prepare(`SELECT * FROM snapshots ORDER BY created_at`).all() as Row[];
    return rows.map(fromRow).filter((s) => owner === undefined || s.owner === owner);
  }

  /** Ids of the snapshots taken of sandboxes of `image` (they start from it: it must stay). */
  usingImage(image: string): string[] {
    return this.list()
      .filter((s) => s.image === image)
      .map((s) => s.id);
  }

  delete(id: string): void {
    this.db.prepare(`DELETE FROM snapshots WHERE id = ?`).run(id);
  }
}
