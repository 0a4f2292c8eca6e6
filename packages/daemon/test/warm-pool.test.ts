import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type Database from "better-sqlite3";
import {
  CreateSandboxRequestSchema,
  parseWarmPoolSpec,
  type CreateSandboxRequest,
  type CreateSandboxSpec,
} from "@paddock/protocol";
import { silentLogger } from "../src/logger.js";
import type { Caller } from "../src/sandboxes/create-policy.js";
import { toInfo } from "../src/sandboxes/sandbox-service.js";
import { WarmPools, type WarmPoolDeps } from "../src/sandboxes/warm-pool.js";
import { openDatabase } from "../src/state/database.js";
import { SandboxStore } from "../src/state/sandbox-store.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ALICE: Caller = { admin: false, name: "alice" };
const BOB: Caller = { admin: false, name: "bob" };
const create = (input: CreateSandboxRequest = {}) => CreateSandboxRequestSchema.parse(input);

/**
 * SandboxService as the pools use it, over a real store: create writes the row as the real one
 * does (the image's env as the base) after a short while, teardown and the agent's env are
 * recorded. It counts creates under way at once.
 */
function fakeService(store: SandboxStore) {
  const state = {
    creates: 0,
    running: 0,
    mostAtOnce: 0,
    failWith: undefined as Error | undefined,
    deadAgents: new Set<string>(),
    teardowns: [] as string[],
    envs: new Map<string, Record<string, string>>(),
  };
  let n = 0;
  const service: WarmPoolDeps["service"] = {
    async create(request: CreateSandboxSpec, caller: Caller, pool: string | null = null) {
      state.creates++;
      state.mostAtOnce = Math.max(state.mostAtOnce, ++state.running);
      try {
        await sleep(5);
        if (state.failWith) throw state.failWith;
        const id = `sb_${++n}`;
        const env = { FROM_IMAGE: "1", ...request.env };
        store.insert(id, { ...request, image: request.image!, env }, Date.now(), caller.name, pool);
        store.setRunning(id, "test");
        return toInfo(store.get(id, { pool })!);
      } finally {
        state.running--;
      }
    },
    async teardown(record) {
      state.teardowns.push(record.id);
    },
    pooledAgent(id: string) {
      return {
        async setEnv(env: Record<string, string>) {
          if (state.deadAgents.has(id)) throw new Error("the agent does not answer");
          state.envs.set(id, env);
        },
      } as unknown as ReturnType<WarmPoolDeps["service"]["pooledAgent"]>;
    },
  };
  return { service, state };
}

describe("warm pools", () => {
  let dir: string;
  let db: Database.Database;
  let store: SandboxStore;
  let fake: ReturnType<typeof fakeService>;
  let pools: WarmPools;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "paddock-warm-"));
    db = openDatabase(path.join(dir, "state.db"));
    store = new SandboxStore(db);
    fake = fakeService(store);
    pools = new WarmPools({
      store,
      service: fake.service,
      log: silentLogger,
      retry: { minMs: 20, maxMs: 80 },
    });
  });

  afterEach(async () => {
    await pools.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const readyOf = () => pools.list().map((p) => p.ready);
  const filled = (sizes: number[]) => vi.waitFor(() => expect(readyOf()).toEqual(sizes));

  it("fills each pool one sandbox at a time, and its sandboxes are hidden until claimed", async () => {
    pools.set([parseWarmPoolSpec("busybox:runc=3"), parseWarmPoolSpec("busybox:runsc=2")]);
    await filled([3, 2]);
    expect(fake.state.mostAtOnce).toBe(1);
    const ids = store.pooled().map((p) => p.record.id);
    expect(ids).toHaveLength(5);
    for (const id of ids) expect(store.get(id)).toBeUndefined();
    expect(store.list()).toEqual([]);
    expect(store.list({ state: "running" })).toEqual([]);
    // Their timeout starts at the claim: the reaper never sees them.
    expect(store.expired(Date.now() + 365 * 86400_000)).toEqual([]);
    expect(pools.list()[0]).toMatchObject({
      spec: "busybox:runc=3",
      size: 3,
      filling: 0,
      lastError: null,
    });
  });

  it("gives a matching create a ready sandbox with its env, labels, owner and timeout, then refills", async () => {
    pools.set([parseWarmPoolSpec("busybox:runsc=2")]);
    await filled([2]);
    const before = Date.now();
    const info = await pools.claim(
      create({ env: { MINE: "yes" }, labels: { team: "ml" }, timeoutSeconds: 60 }),
      ALICE,
    );
    expect(info).toMatchObject({ image: "busybox", runtime: "runsc", labels: { team: "ml" } });
    const record = store.get(info!.id)!;
    expect(record).toMatchObject({ owner: "alice", timeoutSeconds: 60, autoResume: false });
    expect(record.env).toEqual({ FROM_IMAGE: "1", MINE: "yes" });
    expect(fake.state.envs.get(info!.id)).toEqual({ FROM_IMAGE: "1", MINE: "yes" });
    // createdAt is the claim; it expires its timeout after that.
    const created = Date.parse(record.createdAt);
    expect(created).toBeGreaterThanOrEqual(before);
    expect(Date.parse(record.expiresAt) - created).toBe(60_000);
    expect(store.list({ owner: "alice" }).map((s) => s.id)).toEqual([info!.id]);
    expect(store.list({ owner: "bob" })).toEqual([]);
    await filled([2]);
    expect(fake.state.creates).toBe(3);
  });

  it("leaves a create that matches no pool, or a pool with none ready, to the ordinary path", async () => {
    pools.set([parseWarmPoolSpec("busybox:runc=1")]);
    await filled([1]);
    expect(await pools.claim(create({ runtime: "runc", memoryMiB: 256 }), ALICE)).toBeUndefined();
    expect(await pools.claim(create({ runtime: "runsc" }), ALICE)).toBeUndefined();
    expect(await pools.claim(create({ runtime: "runc", image: "debian" }), ALICE)).toBeUndefined();
    expect(await pools.claim(create({ runtime: "runc" }), ALICE)).toBeDefined();
    // The one ready sandbox is gone and its replacement not ready yet.
    expect(await pools.claim(create({ runtime: "runc" }), BOB)).toBeUndefined();
  });

  it("never gives one sandbox to two creates", async () => {
    pools.set([parseWarmPoolSpec("busybox:runc=2")]);
    await filled([2]);
    const claims = await Promise.all(
      [ALICE, BOB, ALICE].map((c) => pools.claim(create({ runtime: "runc" }), c)),
    );
    const ids = claims.filter((c) => c !== undefined).map((c) => c.id);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  it("tears down a sandbox whose agent does not take the env, and gives the next one", async () => {
    pools.set([parseWarmPoolSpec("busybox:runc=2")]);
    await filled([2]);
    const [first] = store.pooled().map((p) => p.record.id);
    fake.state.deadAgents.add(first!);
    const info = await pools.claim(create({ runtime: "runc" }), ALICE);
    expect(info?.id).not.toBe(first);
    expect(fake.state.teardowns).toEqual([first]);
    expect(store.pooled().some((p) => p.record.id === first)).toBe(false);
  });

  it("keeps a failing pool's error and retries it with a growing delay, not in a loop", async () => {
    fake.state.failWith = new Error('image "nope" is not stored');
    pools.set([parseWarmPoolSpec("nope:runc=1")]);
    await vi.waitFor(() => expect(pools.list()[0]?.lastError).toMatch(/"nope" is not stored/));
    await sleep(400);
    // 20, 40, 80, 80, 80 ms apart: a handful of tries in 400 ms, never hundreds.
    expect(fake.state.creates).toBeGreaterThanOrEqual(3);
    expect(fake.state.creates).toBeLessThanOrEqual(9);
    expect(pools.list()[0]?.lastErrorAt).toMatch(/^\d{4}-/);
    fake.state.failWith = undefined;
    await filled([1]);
    expect(pools.list()[0]).toMatchObject({ lastError: null, lastErrorAt: null });
  });

  it("tears down what a smaller or dropped pool no longer wants, and keeps a kept profile's", async () => {
    pools.set([parseWarmPoolSpec("busybox:runc=3"), parseWarmPoolSpec("busybox:runsc=1")]);
    await filled([3, 1]);
    const kept = store.pooled().map((p) => p.record.id);
    pools.set([parseWarmPoolSpec("busybox:runc=1")]);
    await vi.waitFor(() => expect(fake.state.teardowns).toHaveLength(3));
    expect(readyOf()).toEqual([1]);
    expect(kept).toContain(store.pooled()[0]!.record.id);
    pools.set([]);
    await vi.waitFor(() => expect(store.pooled()).toEqual([]));
    expect(fake.state.creates).toBe(4);
  });

  it("refuses a pool this daemon would not create, changing nothing", () => {
    pools.set([parseWarmPoolSpec("busybox:runc=1")]);
    expect(() => pools.set([parseWarmPoolSpec("docker:runc=1,docker=true")])).toThrow(
      expect.objectContaining({
        code: "forbidden",
        message: expect.stringMatching(
          /^warm pool docker:runc=1,docker=true: runtime runc with docker/,
        ),
      }),
    );
    expect(pools.list().map((p) => p.spec)).toEqual(["busybox:runc=1"]);
  });

  it("tears every pool sandbox down on close, and claims none after", async () => {
    pools.set([parseWarmPoolSpec("busybox:runc=2")]);
    await filled([2]);
    await pools.close();
    expect(store.pooled()).toEqual([]);
    expect(fake.state.teardowns).toHaveLength(2);
    expect(await pools.claim(create({ runtime: "runc" }), ALICE)).toBeUndefined();
  });

  it("removes the pool sandboxes a killed daemon left, claimed halfway or not", async () => {
    const request = create({ runtime: "runc", image: "busybox" });
    store.insert("sb_left1", { ...request, image: "busybox" }, Date.now(), null, '["old-key"]');
    store.insert("sb_left2", { ...request, image: "busybox" }, Date.now(), null, "claiming");
    store.insert("sb_mine", { ...request, image: "busybox" }, Date.now(), "alice");
    await pools.removeLeftovers();
    expect(fake.state.teardowns.sort()).toEqual(["sb_left1", "sb_left2"]);
    expect(store.pooled()).toEqual([]);
    expect(store.get("sb_mine")?.owner).toBe("alice");
  });
});
