import { execFile } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AuthenticationError,
  CommandExitError,
  FileNotFoundError,
  NotFoundError,
  Sandbox,
  TimeoutError,
} from "e2b";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { REPO, RUNTIMES } from "../helpers/paths.js";

const execFileAsync = promisify(execFile);

/**
 * The official `e2b` SDK, unchanged, against a Paddock daemon's E2B API: configured only by the
 * environment variables the README gives.
 */

/** A port nobody listens on now, for the daemon's E2B API (the test helper reads only its URL). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let daemon: TestDaemon;
let otherKey: string;
beforeAll(async () => {
  const port = await freePort();
  daemon = await startDaemon(undefined, { PADDOCK_E2B_PORT: String(port) });
  const key = async (name: string) => {
    const res = await daemon.api("POST", "/v1/keys", { name });
    return ((await res.json()) as { key: string }).key;
  };
  process.env.E2B_API_URL = `http://127.0.0.1:${port}/e2b`;
  process.env.E2B_SANDBOX_URL = `http://127.0.0.1:${port}/e2b/envd`;
  process.env.E2B_API_KEY = await key("e2b-a");
  otherKey = await key("e2b-b");
});
afterAll(async () => {
  await daemon?.stop();
});

describe.each(RUNTIMES)("the e2b SDK on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({
      metadata: { "paddock.runtime": runtime, suite: "e2b", runtime },
      envs: { FROM_CREATE: "yes" },
      timeoutMs: 300_000,
    });
  });
  afterAll(async () => {
    await sandbox?.kill().catch(() => {});
  });

  it("creates the base template: bash, python3 and the user `user` at /home/user", async () => {
    const res = await sandbox.commands.run(
      "whoami; pwd; python3 -c 'print(6*7)'; echo $FROM_CREATE",
    );
    expect(res).toMatchObject({ exitCode: 0, stdout: "user\n/home/user\n42\nyes\n", stderr: "" });
    const info = await sandbox.getInfo();
    expect(info).toMatchObject({
      sandboxId: sandbox.sandboxId,
      templateId: "base",
      state: "running",
      metadata: { suite: "e2b", runtime },
    });
    expect(info.endAt.getTime() - info.startedAt.getTime()).toBe(300_000);
    expect(await sandbox.isRunning()).toBe(true);
  });

  it("lists by metadata, page by page, and connects by id", async () => {
    const paginator = Sandbox.list({ query: { metadata: { runtime } }, limit: 1 });
    const first = await paginator.nextItems();
    expect(first.map((s) => s.sandboxId)).toEqual([sandbox.sandboxId]);
    expect(paginator.hasNext).toBe(false);
    const again = await Sandbox.connect(sandbox.sandboxId);
    expect((await again.commands.run("echo $FROM_CREATE")).stdout).toBe("yes\n");
    await sandbox.setTimeout(600_000);
    const info = await Sandbox.getInfo(sandbox.sandboxId);
    expect(info.endAt.getTime() - Date.now()).toBeGreaterThan(590_000);
  });

  it("runs commands in the foreground: exit codes, callbacks, envs, cwd, user, timeouts", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const res = await sandbox.commands.run("echo one; echo two >&2; echo $A; pwd; whoami", {
      envs: { A: "from-envs" },
      cwd: "/tmp",
      user: "root",
      onStdout: (d) => void out.push(d),
      onStderr: (d) => void err.push(d),
    });
    expect(res.stdout).toBe("one\nfrom-envs\n/tmp\nroot\n");
    expect(out.join("")).toBe(res.stdout);
    expect(err.join("")).toBe("two\n");
    const failed = await sandbox.commands.run("echo bad >&2; exit 3").catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(CommandExitError);
    expect(failed).toMatchObject({ exitCode: 3, stderr: "bad\n" });
    await expect(sandbox.commands.run("sleep 30", { timeoutMs: 500 })).rejects.toBeInstanceOf(
      TimeoutError,
    );
  });

  it("streams 10 MiB of output in order", async () => {
    let seen = 0;
    const res = await sandbox.commands.run("head -c 10485760 /dev/zero | tr '\\0' a", {
      onStdout: (d) => void (seen += d.length),
    });
    expect(res.stdout.length).toBe(10 * 1024 * 1024);
    expect(seen).toBe(10 * 1024 * 1024);
  });

  it("runs commands in the background: stdin, list, connect, kill", async () => {
    const cat = await sandbox.commands.run("cat", { background: true, stdin: true });
    await sandbox.commands.sendStdin(cat.pid, "line one\n");
    await sandbox.commands.sendStdin(cat.pid, "line two\n");
    await sandbox.commands.closeStdin(cat.pid);
    expect((await cat.wait()).stdout).toBe("line one\nline two\n");

    let started!: () => void;
    const output = new Promise<void>((resolve) => (started = resolve));
    const sleeper = await sandbox.commands.run("echo started; sleep 60", {
      background: true,
      onStdout: () => started(),
    });
    await output;
    expect((await sandbox.commands.list()).map((p) => p.pid)).toContain(sleeper.pid);
    await sleeper.disconnect();
    const attached = await sandbox.commands.connect(sleeper.pid);
    expect(await sandbox.commands.kill(sleeper.pid)).toBe(true);
    await expect(attached.wait()).rejects.toBeInstanceOf(CommandExitError);
    expect(attached.stdout).toBe("started\n");
    expect(await sandbox.commands.kill(sleeper.pid)).toBe(false);
  });

  it("writes and reads files: text, bytes, blob, stream, 0 B, 1 B, many at once, odd names", async () => {
    const odd = "dir with space/ünï 'q' \"dq\" $x.txt";
    const written = await sandbox.files.write(odd, "odd\n");
    expect(written).toMatchObject({ name: "ünï 'q' \"dq\" $x.txt", path: `/home/user/${odd}` });
    expect(await sandbox.files.read(odd)).toBe("odd\n");
    await sandbox.files.write("/tmp/empty", "");
    expect(await sandbox.files.read("/tmp/empty")).toBe("");
    expect(await sandbox.files.read("/tmp/empty", { format: "bytes" })).toEqual(new Uint8Array(0));
    await sandbox.files.write("/tmp/one", new Uint8Array([0xff]).buffer);
    expect(await sandbox.files.read("/tmp/one", { format: "bytes" })).toEqual(
      new Uint8Array([0xff]),
    );
    const blob = await sandbox.files.read("/tmp/one", { format: "blob" });
    expect(blob.size).toBe(1);
    const many = await sandbox.files.write([
      { path: "/tmp/many/a", data: "A" },
      { path: "/tmp/many/b/c", data: new Blob(["C"]) },
    ]);
    expect(many.map((e) => e.path)).toEqual(["/tmp/many/a", "/tmp/many/b/c"]);
    expect((await sandbox.commands.run("cat /tmp/many/a /tmp/many/b/c")).stdout).toBe("AC");
    await expect(sandbox.files.read("/tmp/missing")).rejects.toBeInstanceOf(FileNotFoundError);
  });

  // 100 MiB once, under runc; gVisor's slower file I/O gets 16 MiB, to keep the suite short.
  it("streams 100 MiB up and down (16 MiB under runsc)", async () => {
    const size = (runtime === "runc" ? 100 : 16) * 1024 * 1024;
    const chunk = new Uint8Array(1024 * 1024).fill(7);
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= size) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const entry = await sandbox.files.write("/tmp/big", source);
    expect(entry.path).toBe("/tmp/big");
    expect((await sandbox.files.getInfo("/tmp/big")).size).toBe(size);
    let received = 0;
    let last = 0;
    for await (const part of await sandbox.files.read("/tmp/big", { format: "stream" })) {
      received += part.length;
      last = part[part.length - 1] ?? last;
    }
    expect({ received, last }).toEqual({ received: size, last: 7 });
    await sandbox.files.remove("/tmp/big");
  });

  it("lists, stats, makes, renames and removes", async () => {
    expect(await sandbox.files.makeDir("tree/a/b")).toBe(true);
    expect(await sandbox.files.makeDir("tree/a/b")).toBe(false);
    await sandbox.files.write("tree/a/b/file", "x");
    const shallow = await sandbox.files.list("tree");
    expect(shallow.map((e) => [e.name, e.type])).toEqual([["a", "dir"]]);
    const deep = await sandbox.files.list("tree", { depth: 3 });
    expect(deep.map((e) => e.path).sort()).toEqual([
      "/home/user/tree/a",
      "/home/user/tree/a/b",
      "/home/user/tree/a/b/file",
    ]);
    const info = await sandbox.files.getInfo("tree/a/b/file");
    expect(info).toMatchObject({ name: "file", type: "file", size: 1, permissions: "-rw-r--r--" });
    expect(info.modifiedTime).toBeInstanceOf(Date);
    expect(await sandbox.files.exists("tree/a/b/file")).toBe(true);
    expect(await sandbox.files.exists("tree/nope")).toBe(false);
    const moved = await sandbox.files.rename("tree/a/b/file", "tree/moved");
    expect(moved).toMatchObject({ name: "moved", path: "/home/user/tree/moved" });
    await sandbox.files.remove("tree");
    expect(await sandbox.files.exists("tree")).toBe(false);
    await expect(sandbox.files.getInfo("tree")).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(sandbox.files.list("tree")).rejects.toBeInstanceOf(FileNotFoundError);
  });

  it("watches a directory: files.watchDir, flat and recursive; a missing one is FileNotFoundError", async () => {
    // Made by the user the command runs as, so that it can write there.
    await sandbox.commands.run("mkdir -p watched/sub");
    const flat: string[] = [];
    const deep: string[] = [];
    const flatWatch = await sandbox.files.watchDir(
      "watched",
      (e) => void flat.push(`${e.type} ${e.name}`),
    );
    const deepWatch = await sandbox.files.watchDir(
      "/home/user/watched",
      (e) => void deep.push(`${e.type} ${e.name}`),
      { recursive: true },
    );
    await sandbox.commands.run(
      "cd watched && echo 1 > a && echo 2 >> a && chmod 600 a && mv a b && rm b && echo 3 > sub/c",
    );
    await vi.waitFor(() => expect(deep).toContain("create sub/c"), { timeout: 10_000 });
    await vi.waitFor(() => expect(flat).toContain("remove b"), { timeout: 10_000 });
    for (const e of ["create a", "write a", "chmod a", "rename a", "create b", "remove b"]) {
      expect(flat).toContain(e);
      expect(deep).toContain(e);
    }
    expect(flat.filter((e) => e.includes("sub/"))).toEqual([]);
    await flatWatch.stop();
    await deepWatch.stop();
    await expect(sandbox.files.watchDir("no-such-dir", () => {})).rejects.toBeInstanceOf(
      FileNotFoundError,
    );
    await sandbox.files.remove("watched");
  });

  it("runs a terminal: input, resize, kill", async () => {
    let screen = "";
    const decoder = new TextDecoder();
    const terminal = await sandbox.pty.create({
      cols: 80,
      rows: 24,
      onData: (data) => void (screen += decoder.decode(data, { stream: true })),
    });
    const seen = (text: string) =>
      vi.waitFor(() => expect(screen).toContain(text), { timeout: 15_000 });
    await sandbox.pty.sendInput(
      terminal.pid,
      new TextEncoder().encode("echo $((6*7))-$(whoami)\n"),
    );
    await seen("42-user");
    await sandbox.pty.resize(terminal.pid, { cols: 100, rows: 30 });
    await sandbox.pty.sendInput(terminal.pid, new TextEncoder().encode("stty size\n"));
    await seen("30 100");
    expect(await sandbox.pty.kill(terminal.pid)).toBe(true);
    await expect(terminal.wait()).rejects.toBeInstanceOf(CommandExitError);
  });

  it("keeps keys apart: another key cannot see, reach or kill this sandbox", async () => {
    const as = { apiKey: otherKey };
    const listed = await Sandbox.list({ ...as, query: { metadata: { runtime } } }).nextItems();
    expect(listed).toEqual([]);
    await expect(Sandbox.getInfo(sandbox.sandboxId, as)).rejects.toBeInstanceOf(NotFoundError);
    await expect(Sandbox.connect(sandbox.sandboxId, as)).rejects.toBeInstanceOf(NotFoundError);
    expect(await Sandbox.kill(sandbox.sandboxId, as)).toBe(false);
    expect(await sandbox.isRunning()).toBe(true);
  });
});

describe("the e2b SDK's pause and resume, on runc", () => {
  it("pauses, reports paused, and resumes on connect; metrics come from the cgroup", async () => {
    const sandbox = await Sandbox.create({ metadata: { "paddock.runtime": "runc" } });
    try {
      await sandbox.files.write("/tmp/kept", "kept");
      expect(await sandbox.pause()).toBe(true);
      expect(await Sandbox.pause(sandbox.sandboxId)).toBe(false);
      expect((await sandbox.getInfo()).state).toBe("paused");
      const resumed = await Sandbox.connect(sandbox.sandboxId);
      expect((await resumed.getInfo()).state).toBe("running");
      expect(await resumed.files.read("/tmp/kept")).toBe("kept");
      const [metric] = await resumed.getMetrics();
      expect(metric!.memTotal).toBeGreaterThan(0);
      expect(metric!.memUsed).toBeGreaterThan(0);
      expect(metric!.memUsed).toBeLessThanOrEqual(metric!.memTotal);
      expect(metric!.diskTotal).toBeGreaterThan(metric!.diskUsed);
      expect(metric!.cpuCount).toBeGreaterThan(0);
      expect(metric!.timestamp).toBeInstanceOf(Date);
    } finally {
      await sandbox.kill();
    }
  });
});

describe("examples/e2b-agent", () => {
  it("runs unchanged, configured by the environment only", async () => {
    const { stdout } = await execFileAsync(
      process.execPath,
      [path.join(REPO, "examples/e2b-agent/agent.mjs")],
      {
        env: process.env,
        timeout: 60_000,
      },
    );
    expect(stdout).toMatch(/step 1 failed \(exit 1\): NameError/);
    expect(stdout).toMatch(/step 2 worked: 3\.875 3\.5/);
    expect(stdout).toMatch(/files in the home directory: .*stats\.py/);
    expect(stdout).toMatch(/sandbox sb_\w+ killed/);
  });
});

describe("the e2b SDK's errors", () => {
  it("a wrong key is AuthenticationError; an unknown sandbox NotFoundError or false", async () => {
    const wrong = { apiKey: "pdk_not-a-key" };
    await expect(Sandbox.list(wrong).nextItems()).rejects.toBeInstanceOf(AuthenticationError);
    await expect(Sandbox.create(wrong)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(Sandbox.getInfo("sb_0000000000000000")).rejects.toBeInstanceOf(NotFoundError);
    await expect(Sandbox.connect("sb_0000000000000000")).rejects.toBeInstanceOf(NotFoundError);
    expect(await Sandbox.kill("sb_0000000000000000")).toBe(false);
  });

  it("an unknown template is the API's 404 (the SDK's create reports it with statusCode 404)", async () => {
    const err = await Sandbox.create("no-such-template").catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 404 });
    expect(String(err)).toMatch(/no-such-template/);
  });
});
