import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Keys, Sandbox, WarmPools, type WarmPoolInfo } from "paddock";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers } from "../helpers/host.js";
import { RUNTIMES } from "../helpers/paths.js";

/** Every pool in this file: small busybox sandboxes. */
const PROFILE = { image: "busybox", memoryMiB: 128, pidsLimit: 128, diskMiB: 256 } as const;

let daemon: TestDaemon;
let asAlice: { url: string; token: string };
let asBob: { url: string; token: string };
beforeAll(async () => {
  daemon = await startDaemon();
  const keys = new Keys(daemon.client);
  asAlice = { url: daemon.url, token: (await keys.create("alice")).key };
  asBob = { url: daemon.url, token: (await keys.create("bob")).key };
});
afterAll(async () => {
  await daemon?.stop();
});

/** Sandbox directories on disk: every sandbox, pooled or not. */
const onDisk = (dataDir = daemon.dataDir) =>
  new Set(readdirSync(path.join(dataDir, "sandboxes")).filter((d) => d.startsWith("sb_")));

/** Waits until the pool (the only one) has `ready` sandboxes and none filling. */
async function poolReady(ready: number, client = daemon.client): Promise<WarmPoolInfo> {
  let pool: WarmPoolInfo | undefined;
  await vi.waitFor(
    async () => {
      [pool] = await new WarmPools(client).list();
      expect(pool).toMatchObject({ ready, filling: 0, lastError: null });
    },
    { timeout: 30_000, interval: 50 },
  );
  return pool!;
}

describe.each(RUNTIMES)("warm pools on %s", (runtime) => {
  /** The pool's sandboxes, as found on disk (no API shows them). */
  let pooled: Set<string>;
  const mine: Sandbox[] = [];

  beforeAll(async () => {
    const visible = new Set((await Sandbox.list(daemon.client)).map((s) => s.id));
    await new WarmPools(daemon.client).set([{ ...PROFILE, runtime, size: 2 }]);
    await poolReady(2);
    pooled = new Set([...onDisk()].filter((id) => !visible.has(id)));
  }, 60_000);
  afterAll(async () => {
    for (const sandbox of mine) await sandbox.terminate().catch(() => {});
    await new WarmPools(daemon.client).set([]);
  });

  it("fills the pool, whose sandboxes no key sees, admin included", async () => {
    expect(pooled.size).toBe(2);
    const adminList = (await Sandbox.list(daemon.client)).map((s) => s.id);
    for (const id of pooled) {
      expect(adminList).not.toContain(id);
      for (const token of [daemon.token, asAlice.token])
        for (const [method, route] of [
          ["GET", `/v1/sandboxes/${id}`],
          ["GET", `/v1/sandboxes/${id}/processes`],
          ["GET", `/v1/sandboxes/${id}/files/stat?path=/etc/passwd`],
          ["DELETE", `/v1/sandboxes/${id}`],
        ] as const) {
          const res = await fetch(daemon.url + route, {
            method,
            headers: { authorization: `Bearer ${token}` },
          });
          expect([method, route, res.status]).toEqual([method, route, 404]);
          expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
            "sandbox_not_found",
          );
        }
    }
    // Only the admin token sees or sets the pools.
    await expect(new WarmPools(asAlice).list()).rejects.toMatchObject({ code: "forbidden" });
    await expect(new WarmPools(asAlice).set([])).rejects.toMatchObject({ code: "forbidden" });
  });

  it("gives a matching create a ready sandbox with the caller's env, labels, owner and timeout, then refills", async () => {
    const before = Date.now();
    const t0 = performance.now();
    const sandbox = await Sandbox.create({
      ...asAlice,
      ...PROFILE,
      runtime,
      env: { GREETING: "hello pool" },
      labels: { team: "ml" },
      timeoutSeconds: 120,
    });
    const ms = performance.now() - t0;
    mine.push(sandbox);
    expect(pooled.has(sandbox.id)).toBe(true);
    process.stdout.write(`${runtime}: a pooled create took ${ms.toFixed(1)} ms\n`);
    const { stdout } = await (await sandbox.process.exec("env")).output();
    expect(stdout).toContain("GREETING=hello pool\n");
    const info = await sandbox.info();
    expect(info).toMatchObject({ state: "running", labels: { team: "ml" }, timeoutSeconds: 120 });
    // Its clock starts at the claim.
    expect(Date.parse(info.createdAt)).toBeGreaterThanOrEqual(before - 5);
    expect(Date.parse(info.expiresAt) - Date.parse(info.createdAt)).toBe(120_000);
    expect((await Sandbox.list(asAlice)).map((s) => s.id)).toContain(sandbox.id);
    expect((await Sandbox.list(asBob)).map((s) => s.id)).not.toContain(sandbox.id);
    await expect(Sandbox.connect(sandbox.id, asBob)).rejects.toMatchObject({
      code: "sandbox_not_found",
    });
    await poolReady(2);
  });

  it("makes an ordinary sandbox for a create that matches no pool", async () => {
    const sandbox = await Sandbox.create({ ...asAlice, ...PROFILE, memoryMiB: 192, runtime });
    mine.push(sandbox);
    expect(onDisk().has(sandbox.id) && !pooled.has(sandbox.id)).toBe(true);
    expect((await (await sandbox.process.exec("true")).wait()).exitCode).toBe(0);
    expect((await new WarmPools(daemon.client).list())[0]?.ready).toBe(2);
  });

  it("never gives one sandbox to two creates", async () => {
    await poolReady(2);
    const created = await Promise.all(
      [asAlice, asBob, asAlice].map((as, i) =>
        Sandbox.create({ ...as, ...PROFILE, runtime, env: { WHO: `creator-${i}` } }),
      ),
    );
    mine.push(...created);
    expect(new Set(created.map((s) => s.id)).size).toBe(3);
    const outputs = await Promise.all(
      created.map(async (s) => (await (await s.process.run("echo $WHO")).output()).stdout),
    );
    expect(outputs).toEqual(["creator-0\n", "creator-1\n", "creator-2\n"]);
    await poolReady(2);
  });

  it("tears down a dropped pool's sandboxes", async () => {
    const ready = [...onDisk()].filter((id) => !mine.some((s) => s.id === id));
    expect(ready).toHaveLength(2);
    await new WarmPools(daemon.client).set([]);
    // A runsc teardown takes more than vi.waitFor's default second on a busy machine.
    await vi.waitFor(
      () => {
        for (const id of ready) expect(leftovers(daemon.dataDir, runtime, id)).toEqual([]);
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(await new WarmPools(daemon.client).list()).toEqual([]);
  });
});

describe("warm pools across daemon restarts", () => {
  it("tears down the pool sandboxes a killed daemon left and fills again from PADDOCK_WARM_POOLS", async () => {
    const first = await startDaemon(undefined, { PADDOCK_WARM_POOLS: "busybox:runc=1,memory=128" });
    let second: TestDaemon | undefined;
    try {
      expect((await poolReady(1, first.client)).spec).toBe("busybox:runc=1,memory=128");
      const [left] = onDisk(first.dataDir);
      // The CLI: a kept profile keeps its sandbox; a bad spec says what is expected.
      const set = await paddock(first, ["pool", "set", "busybox:runc=1,memory=128", "--json"]);
      expect(JSON.parse(set.stdout)).toMatchObject([{ spec: "busybox:runc=1,memory=128" }]);
      const ls = await paddock(first, ["pool", "ls"]);
      expect(ls.stdout).toMatch(/^busybox:runc=1,memory=128 +1 +1 +0 +-$/m);
      expect(onDisk(first.dataDir)).toEqual(new Set([left]));
      const bad = await paddock(first, ["pool", "set", "busybox=1"]);
      expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/IMAGE:RUNTIME=SIZE/) });
      await first.kill9();
      second = await first.restart();
      await poolReady(1, second.client);
      expect(leftovers(second.dataDir, "runc", left!)).toEqual([]);
      const [refill] = onDisk(second.dataDir);
      expect(refill).not.toBe(left);
      await second.stop({ keepDataDir: true });
      // A daemon that stops takes its pool with it.
      expect(leftovers(second.dataDir, "runc", refill!)).toEqual([]);
      expect(existsSync(path.join(second.dataDir, "sandboxes", refill!))).toBe(false);
    } finally {
      await (second ?? first).stop();
    }
  }, 60_000);
});
