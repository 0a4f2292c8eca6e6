import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxNotFoundError } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers } from "../helpers/host.js";
import { RUNTIMES } from "../helpers/paths.js";
import { hostPidsLimit } from "../../packages/daemon/src/runtimes/oci-spec.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

describe.each(RUNTIMES)("sandbox lifecycle on %s", (runtime) => {
  it.each(["busybox", "debian"])(
    "creates, lists and terminates from %s, leaving nothing",
    async (image) => {
      const label = `${runtime}-${image}`;
      const sandbox = await Sandbox.create({
        ...daemon.client,
        runtime,
        image,
        labels: { test: label },
      });
      try {
        const info = await sandbox.info();
        expect(info).toMatchObject({
          id: sandbox.id,
          runtime,
          image,
          state: "running",
          labels: { test: label },
        });
        expect(info.agentVersion).toMatch(/^\d+\.\d+\.\d+$/);
        expect((await sandbox.health()).status).toBe("ok");

        const listed = await Sandbox.list({ ...daemon.client, labels: { test: label } });
        expect(listed.map((s) => s.id)).toEqual([sandbox.id]);
        expect(await Sandbox.list({ ...daemon.client, labels: { test: "nobody" } })).toEqual([]);
        const running = await Sandbox.list({ ...daemon.client, state: "running" });
        expect(running.map((s) => s.id)).toContain(sandbox.id);

        const again = await Sandbox.connect(sandbox.id, daemon.client);
        expect(again.id).toBe(sandbox.id);
      } finally {
        await sandbox.terminate();
      }
      const ended = await sandbox.info();
      expect(ended.state).toBe("terminated");
      expect(ended.terminatedAt).not.toBeNull();
      expect(leftovers(daemon.dataDir, runtime, sandbox.id)).toEqual([]);
      // Terminating twice is harmless.
      await sandbox.terminate();
    },
  );

  it("applies memory, cpu and pids limits to the sandbox's cgroup", async () => {
    const sandbox = await Sandbox.create({
      ...daemon.client,
      runtime,
      memoryMiB: 96,
      cpu: 0.5,
      pidsLimit: 77,
    });
    try {
      const { readFileSync } = await import("node:fs");
      const read = (c: string, f: string) =>
        readFileSync(`/sys/fs/cgroup/${c}/paddock/${sandbox.id}/${f}`, "utf8").trim();
      // Under gVisor the host limit has headroom over memoryMiB, which Paddock's own OOM
      // killer enforces (the host kernel's would kill the whole sandbox).
      const memoryMiB = runtime === "runc" ? 96 : 96 + 512;
      expect(Number(read("memory", "memory.limit_in_bytes"))).toBe(memoryMiB * 1024 * 1024);
      // Under gVisor the host cgroup also holds the sentry's threads and stubs: it backs up the
      // limit kept inside.
      expect(read("pids", "pids.max")).toBe(String(hostPidsLimit({ runtime, pidsLimit: 77 })));
      expect(Number(read("cpu", "cpu.cfs_quota_us"))).toBe(50_000);
    } finally {
      await sandbox.terminate();
    }
  });
});

describe("unknown sandboxes", () => {
  it("connect to a missing id throws SandboxNotFoundError", async () => {
    await expect(Sandbox.connect("sb_doesnotexist0000", daemon.client)).rejects.toBeInstanceOf(
      SandboxNotFoundError,
    );
  });
});
