import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { CLI, RUNTIMES } from "../helpers/paths.js";

const run = promisify(execFile);

let daemon: TestDaemon;
let dir: string;
/** A tmux server of this test's own (its socket name), started with this test's environment. */
let socket: string;
beforeAll(async () => {
  daemon = await startDaemon();
  dir = await mkdtemp(path.join(tmpdir(), "paddock-tmux-"));
  socket = `paddock-test-${process.pid}`;
  // No status line: the pane is the whole window, so `stty size` is the window's size.
  await writeFile(path.join(dir, "tmux.conf"), "set -g status off\nset -g escape-time 0\n");
});
afterAll(async () => {
  await run("tmux", ["-L", socket, "kill-server"]).catch(() => {});
  await rm(dir, { recursive: true, force: true });
  await daemon?.stop();
});

const tmux = (...args: string[]) =>
  run("tmux", ["-L", socket, "-f", path.join(dir, "tmux.conf"), ...args]);
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** What the pane shows now. */
const screen = async (session: string) => (await tmux("capture-pane", "-p", "-t", session)).stdout;

/** Polls the pane until `pattern` shows, within a deadline; returns the screen. */
async function waitFor(session: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let shown = "";
  while (Date.now() < deadline) {
    shown = await screen(session);
    if (pattern.test(shown)) return shown;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `no ${String(pattern)} in the tmux pane within ${timeoutMs} ms; it shows:\n${shown}`,
  );
}

/** Polls for a file the pane's shell writes after the CLI exits. */
async function waitForFile(file: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await readFile(file, "utf8").catch(() => undefined);
    if (text?.endsWith("\n")) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${file} was not written within ${timeoutMs} ms`);
}

/**
 * Starts the CLI with `args` in a new 100x30 tmux window. After the CLI exits, the pane's shell
 * writes its exit code and `stty -a` (is the local terminal restored?) to files.
 */
async function startInTmux(session: string, args: string[]) {
  const code = path.join(dir, `${session}.code`);
  const stty = path.join(dir, `${session}.stty`);
  const cli = [process.execPath, CLI, ...args].map(quote).join(" ");
  const env = `PADDOCK_URL=${quote(daemon.url)} PADDOCK_TOKEN=${quote(daemon.token)}`;
  const script = `env ${env} ${cli}; echo $? > ${quote(code)}; stty -a > ${quote(stty)}; sleep 600`;
  await tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "sh", "-c", script);
  return { code, stty };
}

let mark = 10;
/** Types a line and waits for its end, marked by arithmetic the typed echo does not show. */
async function line(session: string, text: string, timeoutMs?: number): Promise<string> {
  const n = mark++;
  await tmux("send-keys", "-t", session, "-l", `${text}; echo END-$((${n}+1))`);
  await tmux("send-keys", "-t", session, "Enter");
  return waitFor(session, new RegExp(`^END-${n + 1}\\s*$`, "m"), timeoutMs);
}

describe.each(RUNTIMES)("the CLI's terminal on %s, in tmux", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime, image: "debian" });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it("paddock shell: prompt, output, window size and resize, Ctrl-C, exit code, terminal restored", async () => {
    const session = `shell-${runtime}`;
    const files = await startInTmux(session, ["shell", sandbox.id]);
    await waitFor(session, /root@\S+:\/#\s*$/m);

    await tmux("send-keys", "-t", session, "-l", "echo hi");
    await tmux("send-keys", "-t", session, "Enter");
    await waitFor(session, /^hi\s*$/m);

    expect(await line(session, "stty size")).toMatch(/^30 100\s*$/m);

    await tmux("resize-window", "-t", session, "-x", "120", "-y", "40");
    // SIGWINCH reaches the CLI, which resizes the sandbox's terminal: polled, not slept on.
    const deadline = Date.now() + 20_000;
    let resized = false;
    while (!resized && Date.now() < deadline) {
      await tmux("send-keys", "-t", session, "-l", "clear; stty size");
      await tmux("send-keys", "-t", session, "Enter");
      resized = await waitFor(session, /^40 120\s*$/m, 1000).then(
        () => true,
        () => false,
      );
    }
    expect(resized).toBe(true);

    await tmux("send-keys", "-t", session, "-l", "sleep 100");
    await tmux("send-keys", "-t", session, "Enter");
    // ^C goes to the foreground program: wait until that is sleep, not the shell still starting
    // it (which would take the ^C, and under gVisor 20240729 a line typed ahead then keeps every
    // later ^C from being processed until it is read; see spawner.c).
    for (let i = 0; i < 100; i++) {
      const ps = await (await sandbox.process.run("cat /proc/[0-9]*/comm")).output();
      if (/^sleep$/m.test(ps.stdout)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const started = Date.now();
    // ^C also flushes typed-ahead input, so the probe is typed again after each one.
    let alive = false;
    for (let i = 0; i < 20 && !alive; i++) {
      await tmux("send-keys", "-t", session, "C-c");
      alive = await line(session, "echo alive", 2000).then(
        () => true,
        () => false,
      );
    }
    expect(alive).toBe(true);
    expect(Date.now() - started).toBeLessThan(60_000);

    await tmux("send-keys", "-t", session, "-l", "exit 3");
    await tmux("send-keys", "-t", session, "Enter");
    expect(await waitForFile(files.code)).toBe("3\n");
    const stty = await waitForFile(files.stty);
    expect(stty).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(stty).toMatch(/(^|\s)echo(\s|$)/m);
    await tmux("kill-session", "-t", session);
  });

  it("paddock exec -it runs a program on a terminal and exits with its code", async () => {
    const session = `exec-${runtime}`;
    const files = await startInTmux(session, [
      "exec",
      "-it",
      sandbox.id,
      "--",
      "sh",
      "-c",
      'stty size; printf "code? "; read c; exit "$c"',
    ]);
    await waitFor(session, /^30 100\s*\ncode\?\s*$/m);
    await tmux("send-keys", "-t", session, "-l", "7");
    await tmux("send-keys", "-t", session, "Enter");
    expect(await waitForFile(files.code)).toBe("7\n");
    expect(await waitForFile(files.stty)).toMatch(/(^|\s)icanon(\s|$)/m);
    await tmux("kill-session", "-t", session);
  });

  it("the local terminal is restored and the sandbox's shell hangs up when the CLI itself is stopped by SIGTERM", async () => {
    const session = `term-${runtime}`;
    const files = await startInTmux(session, ["shell", sandbox.id]);
    await waitFor(session, /root@\S+:\/#\s*$/m);
    const { stdout } = await run("pgrep", ["-f", `${CLI} shell ${sandbox.id}`]);
    for (const pid of stdout.trim().split("\n")) process.kill(Number(pid), "SIGTERM");
    expect(await waitForFile(files.code)).toBe("143\n");
    expect(await waitForFile(files.stty)).toMatch(/(^|\s)icanon(\s|$)/m);
    // Like a dropped ssh session: no shell is left running on a terminal in the sandbox.
    const shells = async () =>
      (await sandbox.process.list()).filter((p) => p.running && p.pty !== null);
    for (let i = 0; i < 50 && (await shells()).length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await shells()).toEqual([]);
    await tmux("kill-session", "-t", session);
  });
});

describe("the CLI's terminal refusals", () => {
  it("-t without a local terminal is a usage error", async () => {
    const res = await paddock(daemon, ["exec", "-t", "sb_whatever", "--", "sh"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/needs a terminal/);
    const shell = await paddock(daemon, ["shell", "sb_whatever"]);
    expect(shell.code).toBe(2);
    const help = await paddock(daemon, ["shell", "--help"]);
    expect(help.stdout).toMatch(/Examples:/);
  });
});
