import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InsufficientStorageError,
  NotFoundError,
  PayloadTooLargeError,
  ResourceExhaustedError,
  Sandbox,
} from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers } from "../helpers/host.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon(undefined, {
    PADDOCK_MAX_UPLOAD_BYTES: String(1 << 20),
    PADDOCK_MAX_PROCESSES: "4",
  });
});
afterAll(async () => {
  await daemon?.stop();
});

describe.each(RUNTIMES)("limits that hold on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime, cpu: 0.5, memoryMiB: 128 });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it("an upload over the cap is a 413 and leaves nothing", async () => {
    await sandbox.fs.writeFile("/data/small.bin", Buffer.alloc(1000));
    // 2 MiB goes through the agent's Node, 9 MiB (known length) to its native copier.
    for (const size of [2 << 20, 9 << 20]) {
      const err = await sandbox.fs
        .uploadFile(Buffer.alloc(size), "/data/big.bin")
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PayloadTooLargeError);
      expect((await sandbox.fs.listFiles("/data")).map((e) => e.name)).toEqual(["small.bin"]);
    }
  });

  it("processes past the cap are a 429, and the sandbox runs more once they end", async () => {
    const sleepers = await Promise.all(
      Array.from({ length: 4 }, () => sandbox.process.exec(["sleep", "100"], { background: true })),
    );
    await expect(sandbox.process.exec("true")).rejects.toBeInstanceOf(ResourceExhaustedError);
    for (const s of sleepers) await s.kill();
    await Promise.all(sleepers.map((s) => s.wait()));
    expect((await (await sandbox.process.exec("echo", "ok")).output()).stdout).toBe("ok\n");
  });

  it("a JSON body over 1 MiB is a 413", async () => {
    const res = await daemon.api("POST", `/v1/sandboxes/${sandbox.id}/processes`, {
      argv: ["echo", "x".repeat(2 << 20)],
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      "payload_too_large",
    );
  });

  it("a busy loop limited to 0.5 cpu gets about half a core", async () => {
    const usage = () =>
      Number(readFileSync(`/sys/fs/cgroup/cpuacct/paddock/${sandbox.id}/cpuacct.usage`, "utf8"));
    const loop = await sandbox.process.run("while :; do :; done", { timeoutMs: 4000 });
    await new Promise((r) => setTimeout(r, 1000));
    const before = usage();
    const started = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, 2000));
    const cores = (usage() - before) / Number(process.hrtime.bigint() - started);
    await loop.wait();
    expect(cores).toBeGreaterThan(0.3);
    expect(cores).toBeLessThan(0.7);
  });
});

describe.each(RUNTIMES)("memory past the limit on %s", (runtime) => {
  it("the allocating process is killed and its result says oomKilled, info() counts it, the sandbox, the daemon and other sandboxes keep going", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, memoryMiB: 128 });
    const other = await Sandbox.create({ ...daemon.client, runtime });
    try {
      expect((await sandbox.info()).oomKills).toBe(0);
      const hog = await sandbox.process.run("x=a; while true; do x=$x$x; done", {
        timeoutMs: 60_000,
      });
      const exit = await hog.wait();
      expect(exit.signal).toBe("SIGKILL");
      expect(exit.timedOut).toBe(false);
      expect(exit.oomKilled).toBe(true);
      // A SIGKILL that is not memory's says so too.
      const sleeper = await sandbox.process.exec("sleep", "100");
      await sleeper.kill("SIGKILL");
      expect(await sleeper.wait()).toMatchObject({ signal: "SIGKILL", oomKilled: false });
      expect((await fetch(`${daemon.url}/health`)).status).toBe(200);
      expect((await (await sandbox.process.exec("echo", "still")).output()).stdout).toBe("still\n");
      // The count comes from the kernel (runc) or from Paddock's own killer (runsc).
      let info = await sandbox.info();
      for (let i = 0; i < 50 && info.oomKills === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        info = await sandbox.info();
      }
      expect(info.state).toBe("running");
      expect(info.oomKills).toBeGreaterThanOrEqual(1);
      expect((await (await other.process.exec("echo", "fine")).output()).stdout).toBe("fine\n");
      expect((await other.info()).oomKills).toBe(0);
    } finally {
      await sandbox.terminate();
      await other.terminate();
    }
  });
});

describe.each(RUNTIMES)("disk quota on %s", (runtime) => {
  it("writing past diskMiB is ENOSPC inside, costs the host no more, and the sandbox recovers", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, diskMiB: 64 });
    const other = await Sandbox.create({ ...daemon.client, runtime, diskMiB: 64 });
    try {
      const fill = await (
        await sandbox.process.exec(["dd", "if=/dev/zero", "of=/fill.bin", "bs=1M", "count=200"])
      ).output();
      expect(fill.exitCode).not.toBe(0);
      expect(fill.stderr).toMatch(/no space left on device/i);
      // ext4 reserves space for writes not yet on disk, and gives back what it over-reserved
      // once they are: fill that too, in small blocks, so the disk is really full.
      await (await sandbox.process.exec(["sync"])).wait();
      await (
        await sandbox.process.exec(["dd", "if=/dev/zero", "of=/fill2.bin", "bs=4k", "count=100000"])
      ).output();
      // The host holds no more than the quota for it: the disk image is sparse and capped.
      const image = statSync(path.join(daemon.dataDir, "sandboxes", sandbox.id, "disk.img"));
      expect(image.blocks * 512).toBeLessThanOrEqual(72 * 2 ** 20);
      // An upload into the full disk is a 507 and leaves no file.
      const err = await sandbox.fs
        .uploadFile(Buffer.alloc(512 << 10, 1), "/more.bin")
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InsufficientStorageError);
      await expect(sandbox.fs.statFile("/more.bin")).rejects.toBeInstanceOf(NotFoundError);
      // Another sandbox's disk is its own.
      const elsewhere = await (
        await other.process.exec(["dd", "if=/dev/zero", "of=/ok.bin", "bs=1M", "count=20"])
      ).output();
      expect(elsewhere.exitCode).toBe(0);
      // Deleting the file frees the space again.
      await sandbox.fs.deleteFile("/fill.bin");
      await sandbox.fs.deleteFile("/fill2.bin");
      const again = await (
        await sandbox.process.exec(["dd", "if=/dev/zero", "of=/again.bin", "bs=1M", "count=20"])
      ).output();
      expect(again.exitCode).toBe(0);
      expect((await sandbox.fs.statFile("/again.bin")).size).toBe(20 << 20);
    } finally {
      await sandbox.terminate();
      await other.terminate();
    }
    expect(leftovers(daemon.dataDir, runtime, sandbox.id)).toEqual([]);
  });
});
