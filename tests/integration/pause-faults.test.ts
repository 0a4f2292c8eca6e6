import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InsufficientStorageError, Sandbox, Snapshots } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

type Step = "pause" | "resume" | "snapshot";

/** Starts `step` and SIGKILLs the daemon `afterMs` later, mid-way; a new daemon takes over. */
async function crashDuring(sandbox: Sandbox, step: Step, afterMs: number): Promise<void> {
  const call =
    step === "pause" ? sandbox.pause() : step === "resume" ? sandbox.resume() : sandbox.snapshot();
  call.catch(() => {}); // the daemon dies under it
  await sleep(afterMs);
  await daemon.kill9();
  daemon = await daemon.restart();
}

describe.each(RUNTIMES)("a daemon crash during pause, resume or snapshot on %s", (runtime) => {
  it.each([
    ["pause", 50],
    ["pause", 250],
    ["resume", 50],
    ["resume", 400],
    ["snapshot", 150],
  ] as [Step, number][])(
    "%s cut after %i ms leaves the sandbox running or paused, never half",
    async (step, afterMs) => {
      let sandbox = await Sandbox.create({ ...daemon.client, runtime });
      try {
        await sandbox.fs.writeFile("/root/kept", "kept\n");
        if (step === "resume") await sandbox.pause();
        await crashDuring(sandbox, step, afterMs);
        const { state } = await Sandbox.getInfo(sandbox.id, daemon.client);
        expect(["running", "paused"]).toContain(state);
        if (step === "snapshot") expect(state).toBe("running");
        // Either way it works once resumed; connect resumes a paused one.
        sandbox = await Sandbox.connect(sandbox.id, daemon.client);
        expect(await sandbox.fs.readFile("/root/kept")).toBe("kept\n");
        // A snapshot cut short is complete and listed, or gone whole.
        for (const s of await new Snapshots(daemon.client).list()) {
          const fork = await Sandbox.create({ ...daemon.client, snapshot: s.id });
          expect(await fork.fs.readFile("/root/kept")).toBe("kept\n");
          await fork.terminate();
          await new Snapshots(daemon.client).delete(s.id);
        }
      } finally {
        await Sandbox.terminate(sandbox.id, daemon.client);
      }
    },
  );

  it("a full disk fails a snapshot with 507 and the sandbox keeps running", async () => {
    // The daemon's snapshots live on a 1 MiB filesystem.
    const dataDir = mkdtempSync(path.join(tmpdir(), "paddock-test-"));
    const snapshots = path.join(dataDir, "snapshots");
    await mkdir(snapshots);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "paddock-test-full", snapshots]);
    const full = await startDaemon(dataDir);
    try {
      const sandbox = await Sandbox.create({ ...full.client, runtime });
      await sandbox.fs.writeFile("/root/big", Buffer.alloc(4 * 2 ** 20, 1));
      await expect(sandbox.snapshot({ name: "too-big" })).rejects.toBeInstanceOf(
        InsufficientStorageError,
      );
      expect((await sandbox.info()).state).toBe("running");
      expect(await sandbox.fs.readFile("/root/kept").catch(() => "none")).toBe("none");
      expect((await (await sandbox.process.run("echo alive")).output()).stdout).toBe("alive\n");
      expect(await new Snapshots(full.client).list()).toEqual([]);
      await sandbox.terminate();
    } finally {
      execFileSync("umount", [snapshots]);
      await full.stop();
    }
  });
});
