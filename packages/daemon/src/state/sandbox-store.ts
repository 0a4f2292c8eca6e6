import type Database from "better-sqlite3";
import {
  SANDBOX_STATES,
  NetworkPolicySchema,
  SandboxImageConfigSchema,
  type CreateSandboxSpec,
  type ImageConfig,
  type ListSandboxesFilter,
  type NetworkPolicy,
  type RuntimeName,
  type SandboxImageConfig,
  type SandboxInfo,
  type SandboxNetwork,
  type SandboxState,
} from "@paddock/protocol";

export interface SandboxRecord extends SandboxInfo {
  env: Record<string, string>;
  /** The API key that created it; null for the admin. */
  owner: string | null;
  network: SandboxNetwork;
}

/** States of a sandbox that has not ended: it holds its image, its directory and its lease. */
export const LIVE_STATES: SandboxState[] = SANDBOX_STATES.filter(
  (s) => s !== "terminated" && s !== "failed",
);

/**
 * Whether the sandbox was made with a network (a namespace, a link, rules): egress other than
 * none, or an address (a networked sandbox set to egress none keeps its namespace).
 */
export function hasNetwork(record: Pick<SandboxRecord, "network">): boolean {
  return record.network.egress !== "none" || record.network.address !== null;
}

interface Row {
  id: string;
  image: string;
  runtime: RuntimeName;
  state: SandboxState;
  cpu: number;
  memory_mib: number;
  pids_limit: number;
  disk_mib: number;
  oom_kills: number;
  timeout_seconds: number;
  labels: string;
  env: string;
  created_at: number;
  expires_at: number;
  terminated_at: number | null;
  reason: string | null;
  agent_version: string | null;
  docker: number;
  owner: string | null;
  image_config: string | null;
  network: string | null;
  network_address: string | null;
  auto_resume: number;
  paused_at: number | null;
  pool: string | null;
  snapshot: string | null;
}

/** A stored image config, checked: a row that does not parse shows none rather than failing. */
function imageConfigOf(text: string | null): SandboxImageConfig | null {
  if (text === null) return null;
  try {
    const parsed = SandboxImageConfigSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const NO_NETWORK: NetworkPolicy = { egress: "none", allow: [], deny: [] };

/** A stored policy, checked: a row that does not parse (or an older row) has no network. */
function networkOf(text: string | null, address: string | null): SandboxNetwork {
  let policy = NO_NETWORK;
  try {
    const parsed = text === null ? undefined : NetworkPolicySchema.safeParse(JSON.parse(text));
    if (parsed?.success) policy = parsed.data;
  } catch {
    // Unreadable: shown as no network.
  }
  return { ...policy, address };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function fromRow(row: Row): SandboxRecord {
  return {
    id: row.id,
    image: row.image,
    runtime: row.runtime,
    state: row.state,
    cpu: row.cpu,
    memoryMiB: row.memory_mib,
    pidsLimit: row.pids_limit,
    diskMiB: row.disk_mib,
    oomKills: row.oom_kills,
    timeoutSeconds: row.timeout_seconds,
    labels: JSON.parse(row.labels) as Record<string, string>,
    env: JSON.parse(row.env) as Record<string, string>,
    createdAt: iso(row.created_at)!,
    expiresAt: iso(row.expires_at)!,
    terminatedAt: iso(row.terminated_at),
    reason: row.reason,
    agentVersion: row.agent_version,
    docker: row.docker === 1,
    imageConfig: imageConfigOf(row.image_config),
    network: networkOf(row.network, row.network_address),
    owner: row.owner,
    autoResume: row.auto_resume === 1,
    pausedAt: iso(row.paused_at),
    snapshot: row.snapshot,
  };
}

/** Sandbox rows. The store only records; the sandbox service decides what the states mean. */
export class SandboxStore {
  constructor(private readonly db: Database.Database) {}

  /**
   * `imageConfig`: the config of a pulled or archive image; its Entrypoint and Cmd show in info.
   * `pool`: the warm pool's key for a pool sandbox, hidden from get and list until claimed.
   */
  insert(
    id: string,
    spec: CreateSandboxSpec & { image: string; imageConfig?: ImageConfig },
    now: number,
    owner: string | null = null,
    pool: string | null = null,
  ): SandboxRecord {
    const c = spec.imageConfig;
    const imageConfig: SandboxImageConfig | null = c
      ? { entrypoint: c.entrypoint, cmd: c.cmd, workingDir: c.workingDir, user: c.user }
      : null;
    this.db
      .prepare(
        `INSERT INTO sandboxes (id, image, runtime, state, cpu, memory_mib, pids_limit, disk_mib,
           timeout_seconds, labels, env, created_at, expires_at, docker, owner, image_config,
           network, auto_resume, pool)
         VALUES (?, ?, ?, 'creating', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        spec.image,
        spec.runtime,
        spec.cpu,
        spec.memoryMiB,
        spec.pidsLimit,
        spec.diskMiB,
        spec.timeoutSeconds,
        JSON.stringify(spec.labels),
        JSON.stringify(spec.env),
        now,
        now + spec.timeoutSeconds * 1000,
        spec.docker ? 1 : 0,
        owner,
        imageConfig && JSON.stringify(imageConfig),
        policyText(spec.network),
        spec.autoResume ? 1 : 0,
        pool,
      );
    return this.get(id, { pool })!;
  }

  /**
   * A sandbox's record. A warm pool's sandbox (its `pool` column set) belongs to nobody: it is
   * found only by naming its pool, so no route, key or background task sees it before a claim.
   */
  get(id: string, { pool = null }: { pool?: string | null } = {}): SandboxRecord | undefined {
    const row = this.db
      .prepare(`SELECT * FROM sandboxes WHERE id = ? AND pool IS ?`)
      .get(id, pool) as Row | undefined;
    return row && fromRow(row);
  }

  /** `owner` (when given) keeps only that key's sandboxes; null means the admin's. */
  list(filter: ListSandboxesFilter & { owner?: string | null } = {}): SandboxRecord[] {
    const rows = (
      filter.state
        ? this.db
            .prepare(`SELECT * FROM sandboxes WHERE state = ? AND pool IS NULL ORDER BY created_at`)
            .all(filter.state)
        : this.db.prepare(`SELECT * FROM sandboxes WHERE pool IS NULL ORDER BY created_at`).all()
    ) as Row[];
    const wanted = Object.entries(filter.labels ?? {});
    return rows
      .map(fromRow)
      .filter((s) => filter.owner === undefined || s.owner === filter.owner)
      .filter((s) => wanted.every(([k, v]) => s.labels[k] === v));
  }

  /** Sandboxes in any of these states. */
  inStates(states: SandboxState[]): SandboxRecord[] {
    const marks = states.map(() => "?").join(", ");
    const rows = this.db
      .prepare(`SELECT * FROM sandboxes WHERE state IN (${marks}) ORDER BY created_at`)
      .all(...states) as Row[];
    return rows.map(fromRow);
  }

  /** Ids of the sandboxes not yet ended that were made from `image`: its users. */
  usingImage(image: string): string[] {
    const marks = LIVE_STATES.map(() => "?").join(", ");
    const rows = this.db
      .prepare(
        `SELECT id FROM sandboxes WHERE image = ? AND state IN (${marks}) ORDER BY created_at`,
      )
      .all(image, ...LIVE_STATES) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** Running sandboxes past their expiry; a pool's are not (their timeout starts at the claim). */
  expired(now: number): string[] {
    const rows = this.db
      .prepare(
        `SELECT id FROM sandboxes WHERE state = 'running' AND expires_at <= ? AND pool IS NULL`,
      )
      .all(now) as { id: string }[];
    return rows.map((r) => r.id);
  }

  setRunning(id: string, agentVersion: string): void {
    this.db
      .prepare(`UPDATE sandboxes SET state = 'running', agent_version = ? WHERE id = ?`)
      .run(agentVersion, id);
  }

  setState(id: string, state: SandboxState, reason: string | null = null, now = Date.now()): void {
    const ended = state === "terminated" || state === "failed";
    this.db
      .prepare(
        `UPDATE sandboxes SET state = ?, reason = COALESCE(?, reason),
           terminated_at = CASE WHEN ? THEN ? ELSE terminated_at END WHERE id = ?`,
      )
      .run(state, reason, ended ? 1 : 0, now, id);
  }

  /** Records a changed timeout: the sandbox now expires at `expiresAtMs`. */
  setExpiry(id: string, timeoutSeconds: number, expiresAtMs: number): void {
    this.db
      .prepare(`UPDATE sandboxes SET timeout_seconds = ?, expires_at = ? WHERE id = ?`)
      .run(timeoutSeconds, expiresAtMs, id);
  }

  /** Records the snapshot the sandbox was started from. */
  setSnapshot(id: string, snapshot: string): void {
    this.db.prepare(`UPDATE sandboxes SET snapshot = ? WHERE id = ?`).run(snapshot, id);
  }

  /** Paused at `now`: its timeout clock stands still until it resumes. */
  setPaused(id: string, now: number): void {
    this.db
      .prepare(`UPDATE sandboxes SET state = 'paused', paused_at = ? WHERE id = ?`)
      .run(now, id);
  }

  /** Running again at `now`: its expiry moves by the time it spent paused. */
  setResumed(id: string, now: number): void {
    this.db
      .prepare(
        `UPDATE sandboxes SET state = 'running',
           expires_at = expires_at + MAX(0, ? - COALESCE(paused_at, ?)), paused_at = NULL
         WHERE id = ?`,
      )
      .run(now, now, id);
  }

  /** Records the sandbox's address: its lease from the pool, kept across daemon restarts. */
  setNetworkAddress(id: string, address: string | null): void {
    this.db.prepare(`UPDATE sandboxes SET network_address = ? WHERE id = ?`).run(address, id);
  }

  /** Records a changed egress policy. */
  setNetworkPolicy(id: string, policy: NetworkPolicy): void {
    this.db.prepare(`UPDATE sandboxes SET network = ? WHERE id = ?`).run(policyText(policy), id);
  }

  /** Raises the OOM kill count to `count` (it never goes down). */
  setOomKills(id: string, count: number): void {
    this.db
      .prepare(`UPDATE sandboxes SET oom_kills = MAX(oom_kills, ?) WHERE id = ?`)
      .run(count, id);
  }

  addOomKill(id: string): void {
    this.db.prepare(`UPDATE sandboxes SET oom_kills = oom_kills + 1 WHERE id = ?`).run(id);
  }

  /** The warm pools' sandboxes, each with its pool's key (or a claim's mark). */
  pooled(): { record: SandboxRecord; pool: string }[] {
    const rows = this.db
      .prepare(`SELECT * FROM sandboxes WHERE pool IS NOT NULL ORDER BY created_at`)
      .all() as Row[];
    return rows.map((row) => ({ record: fromRow(row), pool: row.pool! }));
  }

  /**
   * Takes the oldest running sandbox of pool `from` by moving it to `to` (a mark no pool has),
   * in one statement: two takers never get the same sandbox. Its id, or undefined if none.
   */
  takePooled(from: string, to: string): string | undefined {
    const row = this.db
      .prepare(
        `UPDATE sandboxes SET pool = ? WHERE id = (
           SELECT id FROM sandboxes WHERE pool = ? AND state = 'running' ORDER BY created_at LIMIT 1
         ) AND pool = ? RETURNING id`,
      )
      .get(to, from, from) as { id: string } | undefined;
    return row?.id;
  }

  /**
   * Gives a taken pool sandbox (pool `mark`) to its creator: it becomes an ordinary sandbox,
   * created `now`, expiring `timeoutSeconds` later. False if it is no longer so marked.
   */
  claimPooled(
    id: string,
    mark: string,
    claim: Pick<CreateSandboxSpec, "env" | "labels" | "autoResume" | "timeoutSeconds"> & {
      owner: string | null;
    },
    now: number,
  ): boolean {
    return (
      this.db
        .prepare(
          `UPDATE sandboxes SET pool = NULL, owner = ?, env = ?, labels = ?, auto_resume = ?,
             timeout_seconds = ?, created_at = ?, expires_at = ?
           WHERE id = ? AND pool = ?`,
        )
        .run(
          claim.owner,
          JSON.stringify(claim.env),
          JSON.stringify(claim.labels),
          claim.autoResume ? 1 : 0,
          claim.timeoutSeconds,
          now,
          now + claim.timeoutSeconds * 1000,
          id,
          mark,
        ).changes === 1
    );
  }

  delete(id: string): void {
    this.db.prepare(`DELETE FROM sandboxes WHERE id = ?`).run(id);
  }

  /** Ended sandboxes are kept for a while so `get` can say how they ended, then pruned. */
  pruneEnded(olderThan: number): number {
    return this.db
      .prepare(
        `DELETE FROM sandboxes WHERE state IN ('terminated', 'failed') AND terminated_at < ?`,
      )
      .run(olderThan).changes;
  }
}

/** A policy as stored: NULL for egress none with no entries (as older rows are). */
function policyText(policy: NetworkPolicy | undefined): string | null {
  if (!policy) return null;
  const { egress, allow, deny } = policy;
  return egress === "none" && allow.length === 0 && deny.length === 0
    ? null
    : JSON.stringify({ egress, allow, deny });
}
