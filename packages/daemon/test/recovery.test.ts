import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RuntimeName } from "@paddock/protocol";
import type { ImageStore } from "../src/images/image-store.js";
import { Layout } from "../src/layout.js";
import { silentLogger } from "../src/logger.js";
import type { Runtimes } from "../src/runtimes/index.js";
import { recover } from "../src/sandboxes/recovery.js";
import { SandboxService } from "../src/sandboxes/sandbox-service.js";
import type { SandboxRecord, SandboxStore } from "../src/state/sandbox-store.js";

/** A runtime that knows the containers it is given and records what it is asked to do. */
function fakeRuntime(name: RuntimeName, containers: string[], calls: string[]) {
  return {
    name,
    list: async () => containers,
    state: async () => null,
    destroy: async (t: { id: string; docker?: boolean }) => {
      calls.push(`${name} destroy ${t.id}${t.docker ? " docker" : ""}`);
    },
    releaseRootfs: async (paths: { dir: string }) => {
      calls.push(`${name} release ${path.basename(paths.dir)}`);
    },
  };
}

describe("recovery of sandbox directories no running sandbox claims", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "paddock-recovery-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("uses the record's runtime, else the runtime that knows the container, and never guesses", async () => {
    const layout = new Layout(dir);
    for (const id of ["sb_ended", "sb_known", "sb_orphan"])
      await mkdir(layout.sandbox(id).dir, { recursive: true });
    const ended = { id: "sb_ended", runtime: "runsc", docker: true, state: "failed" };
    const records = new Map([[ended.id, ended as unknown as SandboxRecord]]);
    const store = {
      inStates: () => [],
      get: (id: string) => records.get(id),
    } as unknown as SandboxStore;
    const calls: string[] = [];
    const runtimes = {
      runc: fakeRuntime("runc", [], calls),
      runsc: fakeRuntime("runsc", ["sb_known"], calls),
    } as unknown as Runtimes;
    const service = new SandboxService({
      store,
      images: {} as ImageStore,
      runtimes,
      layout,
      agentRuntimeDir: path.join(dir, "runtime"),
      log: silentLogger,
    });

    await recover({ store, service, runtimes, layout, log: silentLogger });

    expect(calls.sort()).toEqual(
      [
        // The container runsc listed, removed as a stray container (its directory with it).
        "runsc destroy sb_known",
        // The ended sandbox's directory, through its own runtime with its own flags.
        "runsc destroy sb_ended docker",
        "runsc release sb_ended",
        "runsc release sb_known",
        // sb_orphan: no record and no runtime knows it, so no runtime is asked at all.
      ].sort(),
    );
    expect(await readdir(layout.sandboxesDir)).toEqual([]);
  });
});
