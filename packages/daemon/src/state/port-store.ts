import type Database from "better-sqlite3";

export interface PortRecord {
  sandboxId: string;
  port: number;
  hostPort: number;
  bindAddress: string;
  token: string | null;
  createdAt: number;
}

interface Row {
  sandbox_id: string;
  port: number;
  host_port: number;
  bind_address: string;
  token: string | null;
  created_at: number;
}

const fromRow = (r: Row): PortRecord => ({
  sandboxId: r.sandbox_id,
  port: r.port,
  hostPort: r.host_port,
  bindAddress: r.bind_address,
  token: r.token,
  createdAt: r.created_at,
});

/** Exposed ports, kept so they come back after a daemon restart. */
export class PortStore {
  constructor(private readonly db: Database.Database) {}

  upsert(record: PortRecord): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO ports (sandbox_id, port, host_port, bind_address, token, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        record.sandboxId,
        record.port,
        record.hostPort,
        record.bindAddress,
        record.token,
        record.createdAt,
      );
  }

  forSandbox(sandboxId: string): PortRecord[] {
    const rows = this.db
      .prepare(`SELECT * FROM ports WHERE sandbox_id = ? ORDER BY port`)
      .all(sandboxId) as Row[];
    return rows.map(fromRow);
  }

  all(): PortRecord[] {
    return (this.db.prepare(`SELECT * FROM ports ORDER BY sandbox_id, port`).all() as Row[]).map(
      fromRow,
    );
  }

  delete(sandboxId: string, port: number): void {
    this.db.prepare(`DELETE FROM ports WHERE sandbox_id = ? AND port = ?`).run(sandboxId, port);
  }

  deleteSandbox(sandboxId: string): void {
    this.db.prepare(`DELETE FROM ports WHERE sandbox_id = ?`).run(sandboxId);
  }
}
