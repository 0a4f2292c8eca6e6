import { readdirSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers, mountsUnder, runtimeContainers } from "../helpers/host.js";
import { RUNTIMES } from "../helpers/paths.js";

const daemons: TestDaemon[] = [];
afterAll(async () => {
  for (const d of daemons.reverse()) await d.stop().catch(() => {});
});

const fast = { PADDOCK_MONITOR_INTERVAL_MS: "300" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.each(RUNTIMES)("faults on %s", (runtime) => {
  it("a killed agent comes back: streams in flight end with an error, files stay, its processes are reported lost", async () => {
    const daemon = await startDaemon(undefined, fast);
    daemons.push(daemon);
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    await sandbox.fs.writeFile("/data/kept.txt", "still here");
    const long = await sandbox.process.exec("sleep", "1000");
    // Processes are children of the agent's spawn helper, itself the agent's child.
    await sandbox.process
      .run("kill -9 $(awk '/^PPid/ { print $2 }' /proc/$PPID/status)")
      .catch(() => undefined);
    const killedAt = Date.now();
    await expect(long.wait()).rejects.toThrow();
    await until("a new agent to answer", async () =>
      (await sandbox.health().catch(() => undefined))?.agentStarts === 2 ? true : undefined,
    );
    expect(Date.now() - killedAt).toBeLessThan(2000 + 300);
    expect((await sandbox.info()).state).toBe("running");
    expect(await sandbox.fs.readFile("/data/kept.txt")).toBe("still here");
    await expect(sandbox.process.get(long.pid)).rejects.toThrow(/agent restarted/);
    expect((await (await sandbox.process.exec("echo", "ok")).output()).stdout).toBe("ok\n");
    await sandbox.terminate();
  });

  it("a container that exits is noticed: the sandbox is marked failed and cleaned", async () => {
    const daemon = await startDaemon(undefined, fast);
    daemons.push(daemon);
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    // paddock-init is tini's only child: without it tini and the container end.
    await sandbox.process
      .run("kill -9 $(ps -o pid,args | awk '$2 ~ /paddock-init$/ { print $1 }')")
      .catch(() => undefined);
    const info = await until("the sandbox to be marked failed", async () => {
      const i = await sandbox.info();
      return i.state === "failed" ? i : undefined;
    });
    expect(info.reason).toMatch(/agent died/);
    await expect(sandbox.process.exec("true")).rejects.toMatchObject({
      code: "sandbox_not_running",
    });
    expect(leftovers(daemon.dataDir, runtime, sandbox.id)).toEqual([]);
  });

  it("SIGKILL of the daemon during create leaves no half-made sandbox", async () => {
    const first = await startDaemon();
    daemons.push(first);
    const pending = Sandbox.create({ ...first.client, runtime }).catch(() => undefined);
    await sleep(runtime === "runc" ? 40 : 150);
    await first.kill9();
    await pending;
    const second = await first.restart();
    daemons.push(second);
    const all = await Sandbox.list({ ...second.client });
    for (const s of all) expect(s.state === "running" || s.state === "terminated").toBe(true);
    for (const s of all.filter((x) => x.state === "running"))
      await (await Sandbox.connect(s.id, second.client)).terminate();
    expect(runtimeContainers(second.dataDir, runtime)).toEqual([]);
    expect(mountsUnder(path.join(second.dataDir, "sandboxes"))).toEqual([]);
    expect(readdirSync(path.join(second.dataDir, "sandboxes"))).toEqual([]);
  });

  it("SIGKILL of the daemon during an upload and an exec: no partial file, the exec is killed, the sandbox still works", async () => {
    const first = await startDaemon();
    daemons.push(first);
    const sandbox = await Sandbox.create({ ...first.client, runtime, memoryMiB: 1024 });
    await sandbox.fs.writeFile("/data/target.bin", "old content");
    const sleeper = await sandbox.process.exec("sleep", "1000");
    let sent = 0;
    // Pushed on a later turn, and bounded, so a client still feeding it never starves the loop.
    const endless = new Readable({
      read() {
        setImmediate(() => {
          sent += 1 << 20;
          this.push(sent > 4 * 2 ** 30 ? null : Buffer.alloc(1 << 20, 7));
        });
      },
    });
    const upload = sandbox.fs.uploadFile(endless, "/data/target.bin").catch(() => undefined);
    await until("the upload to be under way", async () => (sent > 32 << 20 ? true : undefined));
    await first.kill9();
    await upload;
    await sleeper.wait().catch(() => undefined);

    const second = await first.restart();
    daemons.push(second);
    const again = await Sandbox.connect(sandbox.id, second.client);
    expect((await again.info()).state).toBe("running");
    expect(await again.fs.readFile("/data/target.bin")).toBe("old content");
    await until("the temporary file to be removed", async () => {
      const names = (await again.fs.listFiles("/data")).map((e) => e.name);
      return names.some((n) => n.startsWith(".paddock-")) ? undefined : names;
    });
    await until("the foreground exec to be killed", async () =>
      (await again.process.get(sleeper.pid)).running ? undefined : true,
    );
    expect((await (await again.process.exec("echo", "ok")).output()).stdout).toBe("ok\n");
    await again.terminate();
    expect(leftovers(second.dataDir, runtime, sandbox.id)).toEqual([]);
  });
});
