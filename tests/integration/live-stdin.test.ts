import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { CLI, RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

const encode = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stdin stream fed by the test: `send` a piece, `end` it; `cancelled` says if exec let go. */
function feed() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const state = { cancelled: false, reason: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    cancel: (reason) => {
      state.cancelled = true;
      state.reason = reason;
    },
  });
  return {
    stream,
    state,
    send: (s: string) => controller.enqueue(encode(s)),
    end: () => controller.close(),
  };
}

/** Lines of a process's stdout with the time each came. */
async function timedLines(stdout: AsyncIterable<Uint8Array>, onLine: (l: string) => void) {
  let buffered = "";
  for await (const chunk of stdout) {
    buffered += Buffer.from(chunk).toString();
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
}

const READ_LOOP = 'while read l; do echo "got $l"; done';

describe.each(RUNTIMES)("live stdin on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it("feeds a stream while the process runs: a line is answered before the next is sent", async () => {
    const input = feed();
    const started = Date.now();
    const proc = await sandbox.process.exec(["sh", "-c", READ_LOOP], { stdin: input.stream });
    expect(Date.now() - started).toBeLessThan(5000);
    const seen: { line: string; at: number }[] = [];
    const reading = timedLines(proc.stdout, (line) => seen.push({ line, at: Date.now() }));
    input.send("a\n");
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(1);
    await sleep(3000);
    const bSentAt = Date.now();
    input.send("b\n");
    input.end();
    const exit = await proc.wait();
    await reading;
    expect(exit.exitCode).toBe(0);
    expect(seen.map((s) => s.line)).toEqual(["got a", "got b"]);
    // "got a" came while the stream was open, before b was sent; b's answer after it.
    expect(seen[0]!.at).toBeLessThan(bSentAt);
    expect(seen[1]!.at).toBeGreaterThanOrEqual(bSentAt);
  });

  it("a process that exits before its stdin ends keeps its output and exit code; the stream is let go", async () => {
    const input = feed();
    const started = Date.now();
    const proc = await sandbox.process.exec(["sh", "-c", "echo start; sleep 1; echo done"], {
      stdin: input.stream,
    });
    const out = await proc.output();
    expect(out).toMatchObject({ exitCode: 0, stdout: "start\ndone\n", stderr: "" });
    expect(Date.now() - started).toBeLessThan(3500);
    await expect.poll(() => input.state.cancelled).toBe(true);
    expect(input.state.reason).toBeUndefined();

    // Input half read, the rest never ended: output and exit code are kept all the same.
    const half = feed();
    const partial = await sandbox.process.exec(
      ["sh", "-c", "head -c 5; echo; echo after >&2; exit 7"],
      { stdin: half.stream },
    );
    half.send("hello world");
    expect(await partial.output()).toMatchObject({
      exitCode: 7,
      stdout: "hello\n",
      stderr: "after\n",
    });
    await expect.poll(() => half.state.cancelled).toBe(true);
  });

  it("writeStdin and closeStdin still work on a process started with stdin: true", async () => {
    const proc = await sandbox.process.exec(["cat"], { stdin: true });
    await proc.writeStdin("one\n");
    await proc.closeStdin();
    expect(await proc.output()).toMatchObject({ exitCode: 0, stdout: "one\n" });
  });

  it("paddock exec -i: lines flow live, and the CLI exits with the process, not its input", async () => {
    const sb = sandbox.id;
    const cli = spawn(process.execPath, [CLI, "exec", "-i", sb, "--", "sh", "-c", READ_LOOP], {
      env: { ...process.env, PADDOCK_URL: daemon.url, PADDOCK_TOKEN: daemon.token },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    cli.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    const exited = new Promise<number | null>((r) => cli.once("close", r));
    cli.stdin.write("a\n");
    await expect.poll(() => stdout, { timeout: 15_000 }).toBe("got a\n");
    await sleep(1000);
    cli.stdin.end("b\n");
    expect(await exited).toBe(0);
    expect(stdout).toBe("got a\ngot b\n");

    // Input still open when the process ends: the CLI ends after ~1 s, not with its input.
    const early = spawn(
      process.execPath,
      [CLI, "exec", "-i", sb, "--", "sh", "-c", "echo start; sleep 1; echo done"],
      {
        env: { ...process.env, PADDOCK_URL: daemon.url, PADDOCK_TOKEN: daemon.token },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let out = "";
    early.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const started = Date.now();
    const code = await new Promise<number | null>((r) => early.once("close", r));
    expect(code).toBe(0);
    expect(out).toBe("start\ndone\n");
    expect(Date.now() - started).toBeLessThan(8000);
    early.stdin.destroy();
  });

  it("paddock exec exits 127 for a missing command and 126 for one that cannot run", async () => {
    const missing = await paddock(daemon, ["exec", sandbox.id, "--", "no-such-command"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/no-such-command/);
    const notRunnable = await paddock(daemon, ["exec", sandbox.id, "--", "/etc/passwd"]);
    expect(notRunnable.code).toBe(126);
    expect(notRunnable.stderr).toMatch(/permission denied/);
  });
});
