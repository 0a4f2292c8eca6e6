import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandNotFoundError, Sandbox, type SandboxProcess } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers } from "../helpers/host.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

describe.each(RUNTIMES)("processes on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime, pidsLimit: 256, memoryMiB: 512 });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  const out = async (p: Promise<SandboxProcess>) => (await p).output();

  it("reports exit codes and keeps stdout and stderr apart", async () => {
    expect(await out(sandbox.process.exec("true"))).toMatchObject({
      exitCode: 0,
      stdout: "",
      stderr: "",
    });
    expect(await out(sandbox.process.run("echo to-out; echo to-err >&2; exit 42"))).toEqual({
      exitCode: 42,
      signal: null,
      timedOut: false,
      oomKilled: false,
      stdout: "to-out\n",
      stderr: "to-err\n",
    });
  });

  it("passes arguments without a shell, byte for byte", async () => {
    const odd = ["a b", "'quote'", '"dq"', "$(id)", "`id`", "-n", "ünï", "x\ny"];
    const res = await out(sandbox.process.exec(["printf", "%s|", ...odd]));
    expect(res.stdout).toBe(`${odd.join("|")}|`);
  });

  it("round-trips stdin through cat, including binary bytes", async () => {
    const data = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const proc = await sandbox.process.exec(["cat"], { stdin: true });
    await proc.writeStdin(data);
    await proc.writeStdin("tail\n");
    await proc.closeStdin();
    const [bytes, exit] = await Promise.all([proc.stdout.bytesAll(), proc.wait()]);
    expect(exit.exitCode).toBe(0);
    expect(Buffer.compare(Buffer.from(bytes), Buffer.concat([data, Buffer.from("tail\n")]))).toBe(
      0,
    );
    expect((await out(sandbox.process.exec(["cat"], { stdin: "given up front" }))).stdout).toBe(
      "given up front",
    );
  });

  it("applies env and cwd", async () => {
    const res = await out(
      sandbox.process.exec(["sh", "-c", 'echo "$GREETING" && pwd'], {
        env: { GREETING: "hi there" },
        cwd: "/tmp",
      }),
    );
    expect(res.stdout).toBe("hi there\n/tmp\n");
    await expect(sandbox.process.exec(["true"], { cwd: "/no/such/dir" })).rejects.toMatchObject({
      code: "file_not_found",
    });
  });

  it("runs as another user", async () => {
    const res = await out(sandbox.process.exec(["id", "-u"], { user: "nobody" }));
    expect(res.stdout.trim()).toBe("65534");
  });

  it("gives a clear error for an unknown command", async () => {
    const err = await sandbox.process.exec("no-such-command").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandNotFoundError);
    expect((err as Error).message).toMatch(/no-such-command/);
  });

  it("a timeout kills the whole process group, children included", async () => {
    const started = Date.now();
    const exit = await (
      await sandbox.process.exec(["sh", "-c", "sleep 1000 & sleep 1000"], { timeoutMs: 500 })
    ).wait();
    expect(exit.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    const ps = await out(sandbox.process.run("ps -o args | grep -c '^sleep 1000' || true"));
    expect(ps.stdout.trim()).toBe("0");
  });

  it("kill stops a process", async () => {
    const proc = await sandbox.process.exec("sleep", "1000");
    await proc.kill("SIGTERM");
    expect(await proc.wait()).toMatchObject({ exitCode: null, signal: "SIGTERM", timedOut: false });
  });

  it("a background process outlives its client and can be reattached with its history", async () => {
    const tag = `ticker-${runtime}`;
    const first = await sandbox.process.exec(
      ["sh", "-c", "echo one; sleep 0.5; echo two; sleep 0.5; echo three"],
      { background: true, tag },
    );
    expect(first.pid).toBeGreaterThan(0);
    // A second client, as after a reconnect, sees everything since start.
    const other = await Sandbox.connect(sandbox.id, daemon.client);
    expect((await other.process.get(tag)).running).toBe(true);
    const again = await other.process.attach(tag);
    expect(await again.output()).toMatchObject({ exitCode: 0, stdout: "one\ntwo\nthree\n" });
    expect((await other.process.list()).find((p) => p.tag === tag)?.running).toBe(false);
  });

  it("a foreground process dies when its client disconnects", async () => {
    const controller = new AbortController();
    const proc = await sandbox.process.exec(["sleep", "1000"], { signal: controller.signal });
    controller.abort();
    await expect(proc.wait()).rejects.toThrow();
    for (let i = 0; i < 50 && (await sandbox.process.get(proc.pid)).running; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect((await sandbox.process.get(proc.pid)).running).toBe(false);
  });

  it("reaps orphaned grandchildren: no zombies pile up", async () => {
    for (let i = 0; i < 5; i++) await out(sandbox.process.run("sleep 0.1 & exit 0"));
    await new Promise((r) => setTimeout(r, 500));
    const ps = await out(sandbox.process.run("ps -o stat | grep -c '^Z' || true"));
    expect(ps.stdout.trim()).toBe("0");
  });

  it("runs 100 execs at once", async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => out(sandbox.process.exec("echo", String(i)))),
    );
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 100 }, (_, i) => `${i}\n`));
  });

  it("runs code in python-less busybox via sh and in node", async () => {
    expect((await out(sandbox.process.runCode("echo $((6*7))", { language: "sh" }))).stdout).toBe(
      "42\n",
    );
    expect(
      (
        await out(
          sandbox.process.runCode("console.log([1,2,3].map(x => x * 2).join(','))", {
            language: "node",
          }),
        )
      ).stdout,
    ).toBe("2,4,6\n");
  });

  it("streams 100 MiB of output with flat memory", async () => {
    const size = 100 * 1024 * 1024;
    // The agent is the parent of every process it starts.
    const agentRss = async () => {
      const res = await out(sandbox.process.run("grep VmRSS /proc/$PPID/status"));
      return Number(/(\d+)/.exec(res.stdout)![1]);
    };
    const agentBefore = await agentRss();
    const daemonBefore = rssKiB(daemon.process.pid!);
    const proc = await sandbox.process.exec(["head", "-c", String(size), "/dev/zero"]);
    const hash = createHash("sha256");
    let seen = 0;
    let peakDaemon = daemonBefore;
    for await (const chunk of proc.stdout) {
      hash.update(chunk);
      seen += chunk.length;
      if (seen % (8 * 1024 * 1024) < chunk.length)
        peakDaemon = Math.max(peakDaemon, rssKiB(daemon.process.pid!));
    }
    expect((await proc.wait()).exitCode).toBe(0);
    expect(seen).toBe(size);
    expect(hash.digest("hex")).toBe(createHash("sha256").update(Buffer.alloc(size)).digest("hex"));
    expect(peakDaemon - daemonBefore).toBeLessThan(100 * 1024);
    expect((await agentRss()) - agentBefore).toBeLessThan(100 * 1024);
  });
});

describe.each(RUNTIMES)("a fork bomb on %s", (runtime) => {
  it("stays inside the sandbox's pids limit and the sandbox still terminates cleanly", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, pidsLimit: 64 });
    const cgroup = `/sys/fs/cgroup/pids/paddock/${sandbox.id}`;
    const pidsMax = Number(readFileSync(`${cgroup}/pids.max`, "utf8"));
    let peak = 0;
    try {
      const bomb = await sandbox.process.run("b() { b | b & }; b", { timeoutMs: 3000 });
      // Watch the host's count of the sandbox's tasks while the bomb runs.
      for (let i = 0; i < 75; i++) {
        peak = Math.max(peak, Number(readFileSync(`${cgroup}/pids.current`, "utf8")));
        await new Promise((r) => setTimeout(r, 20));
      }
      // Under gVisor the bomb may take the sandbox's agent down with it; containment is what counts.
      await bomb.wait().catch(() => undefined);
      expect(peak).toBeGreaterThan(1);
      expect(peak).toBeLessThanOrEqual(pidsMax);
      expect((await fetch(`${daemon.url}/health`)).status).toBe(200);
      if (runtime === "runc") {
        // The agent is untouched: once the bomb's group is killed, the sandbox runs commands again.
        let answer = "";
        for (let i = 0; i < 50 && answer !== "alive\n"; i++) {
          answer = await sandbox.process.exec("echo", "alive").then(
            async (p) => (await p.output()).stdout,
            (err: { code?: string }) => {
              expect(err.code).toBe("resource_exhausted");
              return "";
            },
          );
          if (answer !== "alive\n") await new Promise((r) => setTimeout(r, 200));
        }
        expect(answer).toBe("alive\n");
      }
    } finally {
      await sandbox.terminate();
    }
    expect(leftovers(daemon.dataDir, runtime, sandbox.id)).toEqual([]);
  });
});
