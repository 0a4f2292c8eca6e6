import {
  CreateSandboxRequestSchema,
  formatWarmPoolSpec,
  profileOfRequest,
  warmPoolKey,
  type CreateSandboxSpec,
  type SandboxInfo,
  type WarmPoolInfo,
  type WarmPoolSpec,
} from "@paddock/protocol";
import { execCollect } from "../agent/exec.js";
import { PaddockError, errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import type { SandboxRecord, SandboxStore } from "../state/sandbox-store.js";
import {
  createRefusal,
  DEFAULT_CREATE_POLICY,
  type Caller,
  type CreatePolicy,
} from "./create-policy.js";
import { toInfo, type SandboxService } from "./sandbox-service.js";

/**
 * Pool-column marks of a sandbox taken out of its pool, being handed to a create or torn down.
 * No pool's key looks like them (keys are JSON arrays), so nothing takes such a sandbox again.
 */
const CLAIMING = "claiming";
const DISCARDING = "discarding";

/** The daemon makes a pool's sandboxes as the admin; they belong to nobody until claimed. */
const POOL_CALLER: Caller = { admin: true, name: null };

/** How long close waits for a fill under way (a first fill may be pulling its image). */
const CLOSE_WAIT_MS = 30_000;

export interface WarmPoolDeps {
  store: SandboxStore;
  service: Pick<SandboxService, "create" | "teardown" | "pooledAgent">;
  log: Logger;
  /** What the operator allows beyond the defaults (a pool is refused as a create would be). */
  policy?: CreatePolicy;
  /** Delay before a failed pool's next fill: from `minMs`, doubling per failure, to `maxMs`. */
  retry?: { minMs: number; maxMs: number };
}

interface Pool {
  key: string;
  spec: WarmPoolSpec;
  /** What each of its sandboxes is created with. */
  request: CreateSandboxSpec;
  filling: boolean;
  failures: number;
  /** No fill before this (ms); set after a failure. */
  retryAt: number;
  lastError: string | null;
  lastErrorAt: number | null;
}

/**
 * Warm pools: sandboxes kept running per profile, so a create with that profile takes a ready
 * one (claim) instead of starting one. A pool sandbox's row carries its pool's key, which hides
 * it from every route, key and background task (SandboxStore.get); its timeout starts when it
 * is claimed. Pools are filled one sandbox at a time for the whole daemon (a create costs about
 * a core-second under runsc), and a failing pool is retried after a growing delay.
 */
export class WarmPools {
  private pools = new Map<string, Pool>();
  /** The one fill under way. */
  private filling: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Claims and teardowns under way: close waits for them. */
  private readonly busy = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly deps: WarmPoolDeps) {}

  /**
   * At daemon start, before recovery: removes the pool sandboxes a killed daemon left (they
   * belong to nobody, and their rows would hide them from recovery).
   */
  async removeLeftovers(): Promise<void> {
    for (const { record } of this.deps.store.pooled()) {
      this.deps.log.warn({ id: record.id }, "removing a warm-pool sandbox of the last run");
      await this.remove(record);
    }
  }

  /**
   * Replaces the pools: a kept profile keeps its sandboxes (down to its new size), a dropped
   * one's are torn down, a new one fills in the background. Refuses the whole set, changing
   * nothing, if a pool is one this daemon would refuse to create.
   */
  set(specs: WarmPoolSpec[]): WarmPoolInfo[] {
    const policy = this.deps.policy ?? DEFAULT_CREATE_POLICY;
    for (const spec of specs) {
      const refusal = createRefusal(spec, POOL_CALLER, policy);
      if (refusal)
        throw new PaddockError("forbidden", `warm pool ${formatWarmPoolSpec(spec)}: ${refusal}`);
    }
    const pools = new Map<string, Pool>();
    for (const spec of specs) {
      const key = warmPoolKey(spec);
      const { size: _size, ...profile } = spec;
      const pool = this.pools.get(key) ?? {
        key,
        spec,
        request: CreateSandboxRequestSchema.parse(profile),
        filling: false,
        failures: 0,
        retryAt: 0,
        lastError: null,
        lastErrorAt: null,
      };
      pool.spec = spec;
      pools.set(key, pool);
    }
    this.pools = pools;
    this.trim();
    this.pump();
    return this.list();
  }

  list(): WarmPoolInfo[] {
    const ready = this.readyCounts();
    return [...this.pools.values()].map(({ key, spec, filling, lastError, lastErrorAt }) => {
      const { size, ...profile } = spec;
      return {
        spec: formatWarmPoolSpec(spec),
        profile,
        size,
        ready: ready.get(key) ?? 0,
        filling: filling ? 1 : 0,
        lastError,
        lastErrorAt: lastErrorAt === null ? null : new Date(lastErrorAt).toISOString(),
      };
    });
  }

  /**
   * Gives `caller` a ready sandbox of the pool whose profile `request` asks for, with the
   * request's env, labels, autoResume and timeout, or undefined (no such pool, none ready):
   * then the create is an ordinary one. A sandbox whose agent does not take its env is torn
   * down and the next one tried.
   */
  async claim(request: CreateSandboxSpec, caller: Caller): Promise<SandboxInfo | undefined> {
    const pool = this.closed ? undefined : this.pools.get(warmPoolKey(profileOfRequest(request)));
    if (!pool) return undefined;
    try {
      for (;;) {
        const id = this.deps.store.takePooled(pool.key, CLAIMING);
        if (id === undefined) return undefined;
        const attempt = this.handOver(id, request, caller).catch(async (err: unknown) => {
          this.deps.log.warn(
            { id, err: errorMessage(err) },
            "a warm-pool sandbox failed its claim",
          );
          const record = this.deps.store.get(id, { pool: CLAIMING });
          if (record) await this.remove(record);
          return undefined;
        });
        this.track(attempt);
        const info = await attempt;
        if (info) return info;
      }
    } finally {
      this.pump();
    }
  }

  /** Stops filling, then tears down every pool sandbox (they belong to nobody). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.filling,
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    await Promise.allSettled([...this.busy]);
    for (const { record } of this.deps.store.pooled()) await this.remove(record);
  }

  /** The env goes to the agent first; one UPDATE then makes the sandbox the caller's. */
  private async handOver(
    id: string,
    request: CreateSandboxSpec,
    caller: Caller,
  ): Promise<SandboxInfo> {
    const { store, service, log } = this.deps;
    const t0 = performance.now();
    const record = store.get(id, { pool: CLAIMING });
    if (!record) throw new Error("the sandbox was removed");
    // The image's Env is the base, as in create (the pool's own env is the image's alone).
    const env = { ...record.env, ...request.env };
    await service.pooledAgent(id).setEnv(env);
    const { labels, autoResume, timeoutSeconds } = request;
    const owner = caller.name;
    if (
      !store.claimPooled(
        id,
        CLAIMING,
        { env, labels, autoResume, timeoutSeconds, owner },
        Date.now(),
      )
    )
      throw new Error("the sandbox was taken back (the daemon is stopping)");
    log.info({ id, owner, ms: Math.round(performance.now() - t0) }, "warm-pool sandbox claimed");
    return toInfo(store.get(id)!);
  }

  /** Starts the next fill, or sets a timer for the earliest retry. One fill at a time. */
  private pump(): void {
    if (this.closed || this.filling) return;
    clearTimeout(this.timer);
    const now = Date.now();
    const ready = this.readyCounts();
    const share = (pool: Pool) => (ready.get(pool.key) ?? 0) / pool.spec.size;
    let next: Pool | undefined;
    let wait = Infinity;
    for (const pool of this.pools.values()) {
      if (share(pool) >= 1) continue;
      if (pool.retryAt > now) wait = Math.min(wait, pool.retryAt - now);
      else if (!next || share(pool) < share(next)) next = pool;
    }
    if (next) {
      this.filling = this.fill(next).finally(() => {
        this.filling = undefined;
        this.trim();
        this.pump();
      });
    } else if (wait < Infinity) {
      this.timer = setTimeout(() => this.pump(), wait);
      this.timer.unref();
    }
  }

  private async fill(pool: Pool): Promise<void> {
    const { service, log } = this.deps;
    const t0 = performance.now();
    pool.filling = true;
    try {
      const { id } = await service.create(pool.request, POOL_CALLER, pool.key);
      // The first process starts the agent's process helper (forking node, about 50 ms under
      // gVisor): done now, so a claimed sandbox's first exec does not pay for it. An image
      // without `true` still starts the helper.
      await execCollect(service.pooledAgent(id), { argv: ["true"], timeoutMs: 10_000 }).catch(
        () => {},
      );
      Object.assign(pool, { failures: 0, retryAt: 0, lastError: null, lastErrorAt: null });
      const ms = Math.round(performance.now() - t0);
      log.info({ id, pool: formatWarmPoolSpec(pool.spec), ms }, "warm-pool sandbox ready");
    } catch (err) {
      const { minMs, maxMs } = this.deps.retry ?? { minMs: 1000, maxMs: 60_000 };
      const delay = Math.min(maxMs, minMs * 2 ** pool.failures);
      pool.failures++;
      pool.retryAt = Date.now() + delay;
      pool.lastError = errorMessage(err);
      pool.lastErrorAt = Date.now();
      log.warn(
        { pool: formatWarmPoolSpec(pool.spec), err: pool.lastError, retryInMs: delay },
        "filling a warm pool failed",
      );
    } finally {
      pool.filling = false;
    }
  }

  /** Tears down ready sandboxes no pool wants: a dropped pool's, a shrunk pool's surplus. */
  private trim(): void {
    const ready = this.readyCounts();
    for (const [key, count] of ready) {
      const keep = this.pools.get(key)?.spec.size ?? 0;
      for (let i = keep; i < count; i++) {
        const id = this.deps.store.takePooled(key, DISCARDING);
        const record = id === undefined ? undefined : this.deps.store.get(id, { pool: DISCARDING });
        if (record) this.track(this.remove(record));
      }
    }
  }

  /** Running sandboxes per pool key. */
  private readyCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { record, pool } of this.deps.store.pooled())
      if (record.state === "running") counts.set(pool, (counts.get(pool) ?? 0) + 1);
    return counts;
  }

  /**
   * Tears a pool sandbox down and deletes its row. A failed teardown keeps the row (marked, so
   * never claimed): the next daemon start tries again.
   */
  private async remove(record: SandboxRecord): Promise<void> {
    try {
      await this.deps.service.teardown(record);
      this.deps.store.delete(record.id);
    } catch (err) {
      this.deps.log.error(
        { id: record.id, err: errorMessage(err) },
        "tearing down a warm-pool sandbox failed",
      );
    }
  }

  private track(job: Promise<unknown>): void {
    this.busy.add(job);
    void job.finally(() => this.busy.delete(job));
  }
}
