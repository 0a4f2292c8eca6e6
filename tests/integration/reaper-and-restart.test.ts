import { setTimeout as sleep } from "node:timers/promises";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers } from "../helpers/host.js";
import { RUNTIMES } from "../helpers/paths.js";

const daemons: TestDaemon[] = [];
afterAll(async () => {
  for (const d of daemons.reverse()) await d.stop().catch(() => {});
});

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.each(RUNTIMES)("on %s", (runtime) => {
  it("a sandbox past its timeout is terminated by the reaper", async () => {
    const daemon = await startDaemon();
    daemons.push(daemon);
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, timeoutSeconds: 2 });
    expect((await sandbox.info()).state).toBe("running");
    const ended = await waitFor("reaping", async () => {
      const info = await sandbox.info();
      return info.state === "terminated" ? info : undefined;
    });
    expect(ended.reason).toBe("timeout");
    expect(leftovers(daemon.dataDir, runtime, sandbox.id)).toEqual([]);
  });

  it("after SIGKILL of the daemon and a restart, a running sandbox still answers", async () => {
    const first = await startDaemon();
    daemons.push(first);
    const sandbox = await Sandbox.create({ ...first.client, runtime });
    await first.kill9();

    const second = await first.restart();
    daemons.push(second);
    const again = await Sandbox.connect(sandbox.id, second.client);
    expect((await again.info()).state).toBe("running");
    expect((await again.health()).status).toBe("ok");
    await again.terminate();
    expect(leftovers(second.dataDir, runtime, sandbox.id)).toEqual([]);
  });

  it("a sandbox whose container vanished while the daemon was down is marked failed and cleaned", async () => {
    const first = await startDaemon();
    daemons.push(first);
    const sandbox = await Sandbox.create({ ...first.client, runtime });
    await first.kill9();
    const global = ["--root", path.join(first.dataDir, "state", runtime)];
    if (runtime === "runsc") {
      global.push(
        "--network=none",
        "--host-uds=create",
        `--overlay2=root:dir=${path.join(first.dataDir, "sandboxes", sandbox.id, "disk", "overlay")}`,
      );
    }
    execFileSync(runtime, [...global, "delete", "--force", sandbox.id]);

    const second = await first.restart();
    daemons.push(second);
    const info = await (await Sandbox.connect(sandbox.id, second.client)).info();
    expect(info.state).toBe("failed");
    expect(info.reason).toMatch(/vanished/);
    expect(leftovers(second.dataDir, runtime, sandbox.id)).toEqual([]);
  });
});
