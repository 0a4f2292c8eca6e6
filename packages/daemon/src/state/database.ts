import Database from "better-sqlite3";

const MIGRATIONS: string[] = [
  `CREATE TABLE sandboxes (
     id TEXT PRIMARY KEY,
     image TEXT NOT NULL,
     runtime TEXT NOT NULL,
     state TEXT NOT NULL,
     cpu REAL NOT NULL,
     memory_mib INTEGER NOT NULL,
     pids_limit INTEGER NOT NULL,
     timeout_seconds INTEGER NOT NULL,
     labels TEXT NOT NULL,
     env TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     terminated_at INTEGER,
     reason TEXT,
     agent_version TEXT
   )`,
  `CREATE INDEX sandboxes_state ON sandboxes(state, expires_at)`,
  `CREATE TABLE ports (
     sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
     port INTEGER NOT NULL,
     host_port INTEGER NOT NULL,
     bind_address TEXT NOT NULL,
     token TEXT,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (sandbox_id, port)
   )`,
  `ALTER TABLE sandboxes ADD COLUMN docker INTEGER NOT NULL DEFAULT 0`,
  `CREATE TABLE api_keys (
     name TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER
   )`,
  `ALTER TABLE sandboxes ADD COLUMN owner TEXT`,
  `ALTER TABLE sandboxes ADD COLUMN disk_mib INTEGER NOT NULL DEFAULT 10240`,
  `ALTER TABLE sandboxes ADD COLUMN oom_kills INTEGER NOT NULL DEFAULT 0`,
  // JSON of the image's entrypoint, cmd, workingDir and user; NULL: none (and older rows).
  `ALTER TABLE sandboxes ADD COLUMN image_config TEXT`,
  // JSON of the egress policy (egress, allow, deny), NULL: egress none (and older rows); the
  // sandbox's address from the pool (its lease), NULL: no network.
  `ALTER TABLE sandboxes ADD COLUMN network TEXT;
   ALTER TABLE sandboxes ADD COLUMN network_address TEXT`,
  // Pause: whether agent calls resume it; when it was paused (NULL: not paused; its expiry is
  // moved by the time it spent paused when it resumes).
  `ALTER TABLE sandboxes ADD COLUMN auto_resume INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE sandboxes ADD COLUMN paused_at INTEGER`,
  // Warm pools: the profile key of a pool sandbox not yet claimed (NULL: an ordinary sandbox).
  `ALTER TABLE sandboxes ADD COLUMN pool TEXT`,
  // Snapshots: `sandbox` is the JSON of the sandbox they were taken from (its spec as created),
  // so that a sandbox started from one is made like it.
  `CREATE TABLE snapshots (
     id TEXT PRIMARY KEY,
     name TEXT,
     owner TEXT,
     kind TEXT NOT NULL,
     sandbox_id TEXT NOT NULL,
     sandbox TEXT NOT NULL,
     size_bytes INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX snapshots_name ON snapshots(COALESCE(owner, ''), name);
   ALTER TABLE sandboxes ADD COLUMN snapshot TEXT`,
];

/** Opens the state database and brings its schema up to date (user_version counts migrations). */
export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  // WAL survives a SIGKILL of the daemon without losing committed rows.
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  const version = db.pragma("user_version", { simple: true }) as number;
  db.transaction(() => {
    for (let i = version; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
  return db;
}
