import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxPausedError } from "paddock";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

const ROUNDS = 20;
/** Appends 1, 2, 3, ... to /tmp/counts, one every 20 ms, forever. */
const COUNTER = "i=0; while :; do i=$((i+1)); echo $i >> /tmp/counts; sleep 0.02; done";

/** The sandbox's processes as the host sees them: none while a runsc sandbox is checkpointed. */
function hostProcessesOf(id: string): string[] {
  const out = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.includes(id));
}

async function counts(sandbox: Sandbox): Promise<number[]> {
  const text = await sandbox.fs.readFile("/tmp/counts");
  return text.trim().split("\n").map(Number);
}

describe.each(RUNTIMES)("pause and resume on %s", (runtime) => {
  it(`keeps every count, file, env and output across ${ROUNDS} rounds`, async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, env: { GREETING: "hi" } });
    try {
      await sandbox.process.exec(["sh", "-c", COUNTER], { background: true, tag: "counter" });
      await sandbox.process.exec(["sh", "-c", "echo before; sleep 1000"], {
        background: true,
        tag: "talker",
      });
      let last = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        await sandbox.fs.writeFile(`/root/round-${round}`, `round ${round}\n`);
        const paused = await sandbox.pause();
        expect(paused.state).toBe("paused");
        expect(paused.pausedAt).not.toBeNull();
        if (round === 1) {
          // Calls that need the agent say so; info and the CLI still answer.
          await expect(sandbox.fs.readFile("/root/round-1")).rejects.toBeInstanceOf(
            SandboxPausedError,
          );
          const info = await paddock(daemon, ["info", sandbox.id]);
          expect(info.stdout).toMatch(/state\s+paused/);
          // The stopped container is removed in the background (runsc takes a few seconds).
          if (runtime === "runsc") {
            for (let i = 0; i < 150 && hostProcessesOf(sandbox.id).length > 0; i++)
              await sleep(100);
            expect(hostProcessesOf(sandbox.id)).toEqual([]);
          }
        }
        const resumed = await sandbox.resume();
        expect(resumed).toMatchObject({ state: "running", pausedAt: null });
        // The counter goes on from where it was: no count lost, none repeated.
        await sleep(60);
        const seen = await counts(sandbox);
        expect(seen.length).toBeGreaterThan(last);
        expect(seen).toEqual(seen.map((_, k) => k + 1));
        last = seen.length;
      }
      for (let round = 1; round <= ROUNDS; round++)
        expect(await sandbox.fs.readFile(`/root/round-${round}`)).toBe(`round ${round}\n`);
      const env = await sandbox.process.run("echo $GREETING");
      expect((await env.output()).stdout).toBe("hi\n");
      // The background process and its output history are still there.
      const talker = await sandbox.process.get("talker");
      expect(talker.running).toBe(true);
      await sandbox.process.kill("talker");
      const history = await (await sandbox.process.attach("talker")).output();
      expect(history.stdout).toBe("before\n");
    } finally {
      await sandbox.terminate();
    }
  });

  it("stops the timeout clock while paused, and autoResume and connect resume it", async () => {
    const sandbox = await Sandbox.create({
      ...daemon.client,
      runtime,
      autoResume: true,
      timeoutSeconds: 600,
    });
    try {
      const before = Date.parse((await sandbox.info()).expiresAt);
      await sandbox.pause();
      await sleep(1500);
      // A call that needs the agent resumes it.
      const run = await sandbox.process.run("echo awake");
      expect((await run.output()).stdout).toBe("awake\n");
      const after = await sandbox.info();
      expect(after.state).toBe("running");
      expect(Date.parse(after.expiresAt) - before).toBeGreaterThanOrEqual(1500);

      // Pausing twice and resuming twice are harmless; the CLI does both.
      expect((await paddock(daemon, ["pause", sandbox.id])).stdout).toBe(`${sandbox.id} paused\n`);
      expect((await sandbox.pause()).state).toBe("paused");
      const again = await Sandbox.connect(sandbox.id, daemon.client);
      expect((await again.info()).state).toBe("running");
      expect((await paddock(daemon, ["resume", sandbox.id])).stdout).toBe(
        `${sandbox.id} running\n`,
      );
    } finally {
      await sandbox.terminate();
    }
  });

  it("serves an exposed port again after resume, and terminates while paused", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    await sandbox.fs.writeFile("/www/index.html", "hello\n");
    await sandbox.process.exec(["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"], {
      background: true,
    });
    const { url } = await sandbox.exposePort(8080, { auth: false });
    expect(await (await fetch(`${url}/index.html`)).text()).toBe("hello\n");
    await sandbox.pause();
    await sandbox.resume();
    expect(await (await fetch(`${url}/index.html`)).text()).toBe("hello\n");
    await sandbox.pause();
    const ended = await Sandbox.terminate(sandbox.id, daemon.client);
    expect(ended.state).toBe("terminated");
  });

  it("stays paused across a daemon crash and resumes after it", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    await sandbox.fs.writeFile("/root/kept", "kept\n");
    await sandbox.pause();
    await daemon.kill9();
    daemon = await daemon.restart();
    const info = await Sandbox.getInfo(sandbox.id, daemon.client);
    expect(info.state).toBe("paused");
    const again = await Sandbox.connect(sandbox.id, daemon.client);
    expect(await again.fs.readFile("/root/kept")).toBe("kept\n");
    await again.terminate();
  });
});
