import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type Database from "better-sqlite3";
import { CreateSandboxRequestSchema, type SandboxState } from "@paddock/protocol";
import { PaddockError } from "../src/errors.js";
import type { ImageService } from "../src/images/image-service.js";
import { Layout } from "../src/layout.js";
import { silentLogger } from "../src/logger.js";
import type { Runtimes } from "../src/runtimes/index.js";
import { SandboxService } from "../src/sandboxes/sandbox-service.js";
import { setSandboxTimeout } from "../src/sandboxes/timeouts.js";
import { openDatabase } from "../src/state/database.js";
import { SandboxStore } from "../src/state/sandbox-store.js";

const T0 = Date.UTC(2025, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();

describe("setting a sandbox's timeout", () => {
  let dir: string;
  let db: Database.Database;
  let store: SandboxStore;

  /** A sandbox created at T0 with the default 300 s timeout, put in `state`. */
  const sandbox = (id: string, state: SandboxState) => {
    store.insert(id, { ...CreateSandboxRequestSchema.parse({}), image: "busybox" }, T0);
    store.setState(id, state);
    return store.get(id)!;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "paddock-timeouts-"));
    db = openDatabase(path.join(dir, "state.db"));
    store = new SandboxStore(db);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives a running sandbox `seconds` from now, shorter or longer, and the reaper sees it", () => {
    const now = T0 + 100_000;
    const shorter = setSandboxTimeout(store, sandbox("sb_r", "running"), 10, now);
    expect(shorter).toMatchObject({ timeoutSeconds: 10, expiresAt: iso(now + 10_000) });
    expect(store.expired(now + 9_999)).toEqual([]);
    expect(store.expired(now + 10_000)).toEqual(["sb_r"]);

    const longer = setSandboxTimeout(store, store.get("sb_r")!, 3600, now + 5_000);
    expect(longer).toMatchObject({ timeoutSeconds: 3600, expiresAt: iso(now + 5_000 + 3_600_000) });
    // Past the original expiry (T0 + 300 s) it is not due.
    expect(store.expired(T0 + 301_000)).toEqual([]);
  });

  it("counts a paused sandbox's seconds from its pause: resume adds the paused time back", () => {
    const pausedAt = T0 + 60_000;
    sandbox("sb_p", "paused");
    db.prepare(`UPDATE sandboxes SET paused_at = ? WHERE id = ?`).run(pausedAt, "sb_p");
    const set = setSandboxTimeout(store, store.get("sb_p")!, 30, T0 + 500_000);
    expect(set).toMatchObject({
      state: "paused",
      timeoutSeconds: 30,
      expiresAt: iso(pausedAt + 30_000),
    });
    // After a resume at `later`, expires_at += later - paused_at leaves exactly 30 s.
    const later = T0 + 900_000;
    expect(Date.parse(set.expiresAt) + (later - pausedAt) - later).toBe(30_000);
  });

  it.each(["creating", "pausing", "resuming"] as const)(
    "refuses a %s sandbox with conflict, to be retried once it runs",
    (state) => {
      const record = sandbox("sb_c", state);
      expect(() => setSandboxTimeout(store, record, 10, T0)).toThrow(
        expect.objectContaining({
          code: "conflict",
          message: expect.stringMatching(/is .*; set its timeout again once it is running/),
        }),
      );
      expect(store.get("sb_c")).toMatchObject({
        timeoutSeconds: 300,
        expiresAt: iso(T0 + 300_000),
      });
    },
  );

  it.each(["terminating", "terminated", "failed"] as const)(
    "refuses a %s sandbox: it is not running",
    (state) => {
      const record = sandbox("sb_e", state);
      expect(() => setSandboxTimeout(store, record, 10, T0)).toThrow(
        expect.objectContaining({ code: "sandbox_not_running" }),
      );
      expect(store.get("sb_e")?.timeoutSeconds).toBe(300);
    },
  );

  it("the service looks the sandbox up: an unknown id is sandbox_not_found", () => {
    const service = new SandboxService({
      store,
      images: {} as ImageService,
      runtimes: {} as Runtimes,
      layout: new Layout(dir),
      agentRuntimeDir: path.join(dir, "runtime"),
      log: silentLogger,
    });
    sandbox("sb_s", "running");
    const before = Date.now();
    const record = service.setTimeout("sb_s", 60);
    expect(Date.parse(record.expiresAt)).toBeGreaterThanOrEqual(before + 60_000);
    expect(Date.parse(record.expiresAt)).toBeLessThanOrEqual(Date.now() + 60_000);

    let error: unknown;
    try {
      service.setTimeout("sb_missing", 60);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PaddockError);
    expect(error).toMatchObject({ code: "sandbox_not_found" });
  });
});
