import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keys, Sandbox, SnapshotNotFoundError, Snapshots } from "paddock";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
let otherKey: string;
beforeAll(async () => {
  daemon = await startDaemon();
  otherKey = (await new Keys(daemon.client).create("snapshots-other")).key;
});
afterAll(async () => {
  await daemon?.stop();
});

/**
 * Appends a line to /tmp/count every 20 ms, forever. Appended, not rewritten: a read between
 * the truncate and the write of `echo > file` would see it empty (a failure of CI 11).
 */
const COUNTER = "while :; do echo >> /tmp/count; sleep 0.02; done";

async function count(sandbox: Sandbox): Promise<number> {
  return (await sandbox.fs.readFile("/tmp/count")).length;
}

describe.each(RUNTIMES)("snapshots on %s", (runtime) => {
  it("starts independent sandboxes from a snapshot of a running one, which keeps running", async () => {
    const source = await Sandbox.create({ ...daemon.client, runtime, env: { FROM: "source" } });
    const forks: Sandbox[] = [];
    try {
      await source.process.exec(["sh", "-c", COUNTER], { background: true, tag: "counter" });
      await source.fs.writeFile("/root/prepared", "ready\n");
      while ((await count(source).catch(() => 0)) < 5) await new Promise((r) => setTimeout(r, 20));
      const name = `prepared-${runtime}`;
      const snapshot = await source.snapshot({ name });
      expect(snapshot).toMatchObject({
        name,
        kind: runtime === "runsc" ? "memory" : "files",
        sandboxId: source.id,
        runtime,
        image: "busybox",
      });
      expect(snapshot.sizeBytes).toBeGreaterThan(0);
      // The source goes on.
      const before = await count(source);
      await new Promise((r) => setTimeout(r, 200));
      expect(await count(source)).toBeGreaterThan(before);

      for (const ref of [name, snapshot.id])
        forks.push(await Sandbox.create({ ...daemon.client, snapshot: ref, env: { FORK: ref } }));
      for (const [k, fork] of forks.entries()) {
        const info = await fork.info();
        expect(info).toMatchObject({ runtime, image: "busybox", snapshot: snapshot.id });
        expect(fork.id).not.toBe(source.id);
        expect(await fork.fs.readFile("/root/prepared")).toBe("ready\n");
        const env = await (await fork.process.run("echo $FROM $FORK")).output();
        expect(env.stdout).toBe(`source ${k === 0 ? name : snapshot.id}\n`);
        const counter = (await fork.process.list()).find((p) => p.tag === "counter");
        if (runtime === "runsc") {
          // Memory and processes came along: the counter goes on from where it was.
          expect(counter?.running).toBe(true);
          const a = await count(fork);
          await new Promise((r) => setTimeout(r, 200));
          expect(await count(fork)).toBeGreaterThan(a);
        } else {
          expect(counter).toBeUndefined();
        }
      }
      // Each has its own disk.
      await forks[0]!.fs.writeFile("/root/mine", "fork 0\n");
      await expect(forks[1]!.fs.readFile("/root/mine")).rejects.toThrow();
      await expect(source.fs.readFile("/root/mine")).rejects.toThrow();

      // Another key neither sees nor uses it.
      const other = { url: daemon.client.url, token: otherKey };
      expect(await new Snapshots(other).list()).toEqual([]);
      await expect(Sandbox.create({ ...other, snapshot: name })).rejects.toBeInstanceOf(
        SnapshotNotFoundError,
      );
      expect((await new Snapshots(daemon.client).list()).map((s) => s.id)).toContain(snapshot.id);

      // Deleting it harms no sandbox started from it.
      await new Snapshots(daemon.client).delete(name);
      expect((await (await forks[0]!.process.run("cat /root/prepared")).output()).stdout).toBe(
        "ready\n",
      );
      await expect(new Snapshots(daemon.client).get(snapshot.id)).rejects.toBeInstanceOf(
        SnapshotNotFoundError,
      );
    } finally {
      for (const sandbox of [source, ...forks]) await sandbox.terminate();
    }
  });

  it("keeps snapshots across a daemon crash; the CLI takes, lists, uses and removes them", async () => {
    const source = await Sandbox.create({ ...daemon.client, runtime });
    await source.fs.writeFile("/root/kept", "kept\n");
    const name = `cli-${runtime}`;
    const taken = await paddock(daemon, ["snapshot", "create", source.id, "--name", name]);
    expect(taken.stderr).toBe("");
    expect(taken.stdout).toMatch(/^snap_[a-z0-9]+\n$/);
    await source.terminate();

    await daemon.kill9();
    daemon = await daemon.restart();
    const ls = await paddock(daemon, ["snapshot", "ls"]);
    expect(ls.stdout).toContain(name);
    const created = await paddock(daemon, ["create", "--snapshot", name]);
    expect(created.code).toBe(0);
    const fork = await Sandbox.connect(created.stdout.trim(), daemon.client);
    expect(await fork.fs.readFile("/root/kept")).toBe("kept\n");
    await fork.terminate();
    const rm = await paddock(daemon, ["snapshot", "rm", name]);
    expect(rm.stdout).toBe(taken.stdout);
    expect((await paddock(daemon, ["snapshot", "ls", "--json"])).stdout).not.toContain(name);
  });
});
