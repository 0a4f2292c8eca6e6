import { createHash, randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import type { KeyInfo } from "@paddock/protocol";
import { PaddockError } from "../errors.js";

interface Row {
  name: string;
  hash: string;
  created_at: number;
  revoked_at: number | null;
}

/** Keys are long random secrets, so a plain SHA-256 is a sound way to store them. */
export const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");

const info = (r: Row): KeyInfo => ({
  name: r.name,
  createdAt: new Date(r.created_at).toISOString(),
  revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at).toISOString(),
});

/** API keys: each sees only the sandboxes it created. Only hashes are kept. */
export class KeyStore {
  constructor(private readonly db: Database.Database) {}

  create(name: string): KeyInfo & { key: string } {
    const key = `pdk_${name}_${randomBytes(24).toString("base64url")}`;
    try {
      this.db
        .prepare(`INSERT INTO api_keys (name, hash, created_at) VALUES (?, ?, ?)`)
        .run(name, hashKey(key), Date.now());
    } catch (err) {
      if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new PaddockError(
          "conflict",
          `a key named "${name}" exists; revoke it or pick another name`,
        );
      }
      throw err;
    }
    return { ...this.get(name)!, key };
  }

  get(name: string): KeyInfo | undefined {
    const row = this.db.prepare(`SELECT * FROM api_keys WHERE name = ?`).get(name) as
      Row | undefined;
    return row && info(row);
  }

  list(): KeyInfo[] {
    return (this.db.prepare(`SELECT * FROM api_keys ORDER BY name`).all() as Row[]).map(info);
  }

  /** Whether any key was ever made (revoked ones count: their holders are still around). */
  any(): boolean {
    return this.db.prepare(`SELECT 1 FROM api_keys LIMIT 1`).get() !== undefined;
  }

  /** The name of the live key with this secret, if any. */
  nameFor(key: string): string | undefined {
    const row = this.db
      .prepare(`SELECT name FROM api_keys WHERE hash = ? AND revoked_at IS NULL`)
      .get(hashKey(key)) as { name: string } | undefined;
    return row?.name;
  }

  revoke(name: string): KeyInfo {
    const changes = this.db
      .prepare(`UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`)
      .run(Date.now(), name).changes;
    if (changes === 0 && !this.get(name))
      throw new PaddockError("not_found", `no key named "${name}"`);
    return this.get(name)!;
  }
}
