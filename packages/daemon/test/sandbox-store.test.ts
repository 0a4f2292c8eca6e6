import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type Database from "better-sqlite3";
import { CreateSandboxRequestSchema, type CreateSandboxRequest } from "@paddock/protocol";
import { openDatabase } from "../src/state/database.js";
import { SandboxStore } from "../src/state/sandbox-store.js";

const T0 = Date.UTC(2025, 0, 1);
const spec = (input: CreateSandboxRequest = {}) => {
  const parsed = CreateSandboxRequestSchema.parse(input);
  return { ...parsed, image: parsed.image ?? "busybox" };
};

describe("SandboxStore", () => {
  let dir: string;
  let db: Database.Database;
  let store: SandboxStore;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "paddock-store-"));
    db = openDatabase(path.join(dir, "state.db"));
    store = new SandboxStore(db);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("counts OOM kills: its own one by one, the kernel's count never lowered", () => {
    store.insert("sb_m", spec({ diskMiB: 64 }), T0);
    store.addOomKill("sb_m");
    store.addOomKill("sb_m");
    expect(store.get("sb_m")?.oomKills).toBe(2);
    store.setOomKills("sb_m", 1);
    expect(store.get("sb_m")?.oomKills).toBe(2);
    store.setOomKills("sb_m", 5);
    expect(store.get("sb_m")).toMatchObject({ oomKills: 5, diskMiB: 64 });
  });

  it("inserts a creating row and reads it back", () => {
    const inserted = store.insert(
      "sb_a",
      spec({ runtime: "runc", cpu: 0.5, env: { K: "v" }, labels: { team: "ml" } }),
      T0,
    );
    expect(inserted).toEqual({
      id: "sb_a",
      image: "busybox",
      runtime: "runc",
      state: "creating",
      cpu: 0.5,
      memoryMiB: 512,
      pidsLimit: 1024,
      diskMiB: 10240,
      oomKills: 0,
      timeoutSeconds: 300,
      labels: { team: "ml" },
      env: { K: "v" },
      createdAt: new Date(T0).toISOString(),
      expiresAt: new Date(T0 + 300_000).toISOString(),
      terminatedAt: null,
      reason: null,
      agentVersion: null,
      docker: false,
      imageConfig: null,
      network: { egress: "none", allow: [], deny: [], address: null },
      owner: null,
      autoResume: false,
      pausedAt: null,
      snapshot: null,
    });
    expect(store.get("sb_a")).toEqual(inserted);
  });

  it("keeps a pulled image's entrypoint, cmd, workingDir and user (not its env)", () => {
    const config = {
      env: ["A=b"],
      entrypoint: ["/bin/sh"],
      cmd: ["-c", "echo hi"],
      workingDir: "/work",
      user: "app",
    };
    store.insert("sb_i", { ...spec(), imageConfig: config }, T0);
    expect(store.get("sb_i")?.imageConfig).toEqual({
      entrypoint: ["/bin/sh"],
      cmd: ["-c", "echo hi"],
      workingDir: "/work",
      user: "app",
    });
  });

  it("a database of an older schema gains the image config and network columns; its rows show none", () => {
    db.close();
    const file = path.join(dir, "old.db");
    const old = openDatabase(file);
    // As it was before the image config migration: the five migrations since then undone.
    old.exec(`DROP TABLE snapshots`);
    for (const column of [
      "image_config",
      "network",
      "network_address",
      "auto_resume",
      "paused_at",
      "pool",
      "snapshot",
    ])
      old.exec(`ALTER TABLE sandboxes DROP COLUMN ${column}`);
    const version = old.pragma("user_version", { simple: true }) as number;
    old.pragma(`user_version = ${version - 5}`);
    old
      .prepare(
        `INSERT INTO sandboxes (id, image, runtime, state, cpu, memory_mib, pids_limit,
           timeout_seconds, labels, env, created_at, expires_at)
         VALUES ('sb_old', 'busybox', 'runc', 'running', 1, 512, 1024, 300, '{}', '{}', 0, 0)`,
      )
      .run();
    old.close();
    db = openDatabase(file);
    store = new SandboxStore(db);
    expect(store.get("sb_old")).toMatchObject({
      id: "sb_old",
      imageConfig: null,
      network: { egress: "none", allow: [], deny: [], address: null },
      autoResume: false,
      pausedAt: null,
    });
  });

  it("keeps the egress policy and the address, and records changes to them", () => {
    store.insert("sb_n", spec({ network: { egress: "allowlist", allow: ["192.0.2.0/24"] } }), T0);
    expect(store.get("sb_n")?.network).toEqual({
      egress: "allowlist",
      allow: ["192.0.2.0/24"],
      deny: [],
      address: null,
    });
    store.setNetworkAddress("sb_n", "10.123.0.2");
    store.setNetworkPolicy("sb_n", { egress: "none", allow: [], deny: [] });
    expect(store.get("sb_n")?.network).toEqual({
      egress: "none",
      allow: [],
      deny: [],
      address: "10.123.0.2",
    });
  });

  it("returns undefined for an unknown id", () => {
    expect(store.get("sb_missing")).toBeUndefined();
  });

  it("rejects a duplicate id", () => {
    store.insert("sb_a", spec(), T0);
    expect(() => store.insert("sb_a", spec(), T0)).toThrow();
  });

  it("lists in creation order, filtered by state and labels", () => {
    store.insert("sb_c", spec({ labels: { team: "ml", env: "prod" } }), T0 + 2);
    store.insert("sb_a", spec({ labels: { team: "ml" } }), T0);
    store.insert("sb_b", spec({ labels: { team: "web" } }), T0 + 1);
    store.setRunning("sb_a", "0.1.0");
    store.setRunning("sb_c", "0.1.0");

    expect(store.list().map((s) => s.id)).toEqual(["sb_a", "sb_b", "sb_c"]);
    expect(store.list({ state: "running" }).map((s) => s.id)).toEqual(["sb_a", "sb_c"]);
    expect(store.list({ state: "creating" }).map((s) => s.id)).toEqual(["sb_b"]);
    expect(store.list({ labels: { team: "ml" } }).map((s) => s.id)).toEqual(["sb_a", "sb_c"]);
    expect(store.list({ labels: { team: "ml", env: "prod" } }).map((s) => s.id)).toEqual(["sb_c"]);
    expect(store.list({ labels: { team: "nope" } })).toEqual([]);
    expect(store.list({ state: "creating", labels: { team: "ml" } })).toEqual([]);
  });

  it("setRunning records the agent version", () => {
    store.insert("sb_a", spec(), T0);
    store.setRunning("sb_a", "9.9.9");
    expect(store.get("sb_a")).toMatchObject({ state: "running", agentVersion: "9.9.9" });
  });

  it("setState terminated sets terminatedAt and reason; terminating does not", () => {
    store.insert("sb_a", spec(), T0);
    store.setState("sb_a", "terminating", null, T0 + 5);
    expect(store.get("sb_a")).toMatchObject({ state: "terminating", terminatedAt: null });

    store.setState("sb_a", "terminated", "timeout", T0 + 10);
    expect(store.get("sb_a")).toMatchObject({
      state: "terminated",
      terminatedAt: new Date(T0 + 10).toISOString(),
      reason: "timeout",
    });
  });

  it("setState keeps an earlier reason when given none", () => {
    store.insert("sb_a", spec(), T0);
    store.setState("sb_a", "terminating", "expired", T0);
    store.setState("sb_a", "terminated", null, T0 + 1);
    expect(store.get("sb_a")?.reason).toBe("expired");
  });

  it("setState failed also ends the sandbox", () => {
    store.insert("sb_a", spec(), T0);
    store.setState("sb_a", "failed", "agent died", T0 + 7);
    expect(store.get("sb_a")?.terminatedAt).toBe(new Date(T0 + 7).toISOString());
  });

  it("expired() returns only running sandboxes past their expiry", () => {
    store.insert("sb_short", spec({ timeoutSeconds: 10 }), T0);
    store.insert("sb_long", spec({ timeoutSeconds: 1000 }), T0);
    store.insert("sb_creating", spec({ timeoutSeconds: 10 }), T0);
    store.setRunning("sb_short", "v");
    store.setRunning("sb_long", "v");

    expect(store.expired(T0 + 9_999)).toEqual([]);
    expect(store.expired(T0 + 10_000)).toEqual(["sb_short"]);
    expect(store.expired(T0 + 1_000_000).sort()).toEqual(["sb_long", "sb_short"]);
  });

  it("inStates returns rows in any of the states", () => {
    store.insert("sb_a", spec(), T0);
    store.insert("sb_b", spec(), T0 + 1);
    store.insert("sb_c", spec(), T0 + 2);
    store.setRunning("sb_b", "v");
    store.setState("sb_c", "terminating");
    expect(store.inStates(["creating", "terminating"]).map((s) => s.id)).toEqual(["sb_a", "sb_c"]);
  });

  it("pruneEnded deletes only ended sandboxes that ended before the cutoff", () => {
    store.insert("sb_old", spec(), T0);
    store.insert("sb_new", spec(), T0);
    store.insert("sb_failed", spec(), T0);
    store.insert("sb_live", spec(), T0);
    store.setState("sb_old", "terminated", null, T0 + 100);
    store.setState("sb_new", "terminated", null, T0 + 1_000);
    store.setState("sb_failed", "failed", "x", T0 + 50);
    store.setRunning("sb_live", "v");

    expect(store.pruneEnded(T0 + 500)).toBe(2);
    expect(
      store
        .list()
        .map((s) => s.id)
        .sort(),
    ).toEqual(["sb_live", "sb_new"]);
    expect(store.pruneEnded(T0 + 500)).toBe(0);
  });

  it("delete removes the row", () => {
    store.insert("sb_a", spec(), T0);
    store.delete("sb_a");
    expect(store.get("sb_a")).toBeUndefined();
  });

  it("keeps rows across reopening the database", () => {
    store.insert("sb_a", spec({ labels: { k: "v" } }), T0);
    db.close();
    db = openDatabase(path.join(dir, "state.db"));
    expect(new SandboxStore(db).get("sb_a")?.labels).toEqual({ k: "v" });
    expect(db.pragma("user_version", { simple: true })).toBeGreaterThan(0);
  });
});
