import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bytes of a process's stdout, read to the end through the SDK. */
async function drain(sandbox: Sandbox, command: string): Promise<number> {
  const proc = await sandbox.process.run(command);
  let bytes = 0;
  for await (const chunk of proc.stdout) bytes += chunk.length;
  await proc.wait();
  return bytes;
}

describe.each(RUNTIMES)("the agent's own limits on %s", (runtime) => {
  it("50 outputs of 10 MiB, then kill -9 of the agent: the sandbox, its files and exec live on", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    try {
      await sandbox.fs.writeFile("/data/kept.txt", "kept");
      for (let i = 0; i < 50; i++) {
        expect(await drain(sandbox, "head -c 10485760 /dev/zero")).toBe(10 * 1024 * 1024);
      }
      expect((await sandbox.health()).agentStarts).toBe(1);
      const agentPid = (await (await sandbox.process.run("echo $PPID")).output()).stdout.trim();
      // $PPID is the spawn helper; its parent is the agent.
      await sandbox.process
        .run(`kill -9 $(awk '/^PPid/ { print $2 }' /proc/${agentPid}/status)`)
        .catch(() => undefined);
      const deadline = Date.now() + 2000;
      let started: number | undefined;
      while (Date.now() < deadline) {
        started = (await sandbox.health().catch(() => undefined))?.agentStarts;
        if (started === 2) break;
        await sleep(50);
      }
      expect(started).toBe(2);
      expect((await sandbox.info()).state).toBe("running");
      expect(await sandbox.fs.readFile("/data/kept.txt")).toBe("kept");
      expect((await (await sandbox.process.exec("echo", "ok")).output()).stdout).toBe("ok\n");
    } finally {
      await sandbox.terminate();
    }
  });

  it("a fork bomb meets EAGAIN inside; the sandbox and its agent survive and answer", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, pidsLimit: 128 });
    try {
      // The timeout kills the bomb's whole process group.
      // gVisor starts processes slowly (~20 a second while the bomb runs): give it time to
      // reach the limit.
      const bomb = await sandbox.process.run("f(){ f | f & }; f; sleep 60", { timeoutMs: 10_000 });
      const { stderr, timedOut } = await bomb.output();
      expect(timedOut).toBe(true);
      expect(stderr).toMatch(/can't fork|Resource temporarily unavailable/);
      expect((await sandbox.info()).state).toBe("running");
      expect((await (await sandbox.process.exec("echo", "alive")).output()).stdout).toBe("alive\n");
    } finally {
      await sandbox.terminate();
    }
  });

  it("the user's env reaches user processes only, never the agent's node", async () => {
    const sandbox = await Sandbox.create({
      ...daemon.client,
      runtime,
      env: {
        NODE_OPTIONS: "--require /nonexistent/hijack.js",
        LD_PRELOAD: "/nonexistent/hijack.so",
        LD_LIBRARY_PATH: "/nonexistent",
        MINE: "yes",
      },
    });
    try {
      const { stdout } = await (
        await sandbox.process.run('echo "$NODE_OPTIONS|$MINE"; echo "$PATH"')
      ).output();
      expect(stdout).toBe(
        "--require /nonexistent/hijack.js|yes\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
      );
      // The agent's own environment has none of them.
      const agentEnv = (
        await (
          await sandbox.process.run(
            "tr '\\0' '\\n' < /proc/$(awk '/^PPid/ { print $2 }' /proc/$PPID/status)/environ",
          )
        ).output()
      ).stdout;
      expect(agentEnv).not.toMatch(/^(NODE_OPTIONS|LD_PRELOAD|LD_LIBRARY_PATH|MINE)=/m);
    } finally {
      await sandbox.terminate();
    }
  });
});
