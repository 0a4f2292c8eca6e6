import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  InvalidRequestError,
  Keys,
  ProcessNotFoundError,
  Sandbox,
  SandboxNotRunningError,
  type Terminal,
} from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

/** A terminal and everything it has shown, with a wait for text to appear. */
interface Screen {
  term: Terminal;
  text(): string;
  /** Resolves once `pattern` has appeared after `from` (an offset in text()), within a time. */
  waitFor(pattern: RegExp | string, from?: number, timeoutMs?: number): Promise<string>;
}

async function open(
  create: (onData: (d: Uint8Array) => void) => Promise<Terminal>,
): Promise<Screen> {
  let shown = "";
  const decoder = new TextDecoder();
  const waiters = new Set<() => void>();
  const term = await create((d) => {
    shown += decoder.decode(d, { stream: true });
    for (const wake of waiters) wake();
  });
  const waitFor = (pattern: RegExp | string, from = 0, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const rest = shown.slice(from);
        if (typeof pattern === "string" ? rest.includes(pattern) : pattern.test(rest)) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(rest);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${String(pattern)} on the terminal; it shows:\n${shown}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { term, text: () => shown, waitFor };
}

/**
 * Runs a shell line and waits for its end, marked by arithmetic the echo of the typed line does
 * not contain (`$((n+1))` typed, n+1 printed). Returns what the line printed.
 */
let marks = 100;
async function run(screen: Screen, line: string, timeoutMs?: number): Promise<string> {
  const n = marks++;
  const from = screen.text().length;
  await screen.term.sendInput(`${line}; echo END-$((${n}+1))\n`);
  const rest = await screen.waitFor(`END-${n + 1}`, from, timeoutMs);
  return rest.slice(0, rest.indexOf(`END-${n + 1}`));
}

describe.each(RUNTIMES)("terminals on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime, image: "debian" });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it("runs a login shell on /dev/pts/N of the size asked, TERM xterm-256color, and resizes", async () => {
    const screen = await open((onData) => sandbox.pty.create({ cols: 91, rows: 27, onData }));
    const shown = await run(screen, "tty; stty size; echo T=$TERM; echo S=$0");
    expect(shown).toMatch(/\/dev\/pts\/\d+\r\n/);
    expect(shown).toContain("27 91\r\n");
    expect(shown).toContain("T=xterm-256color\r\n");
    expect(shown).toMatch(/S=\S*bash\r\n/);

    await screen.term.resize({ cols: 120, rows: 40 });
    expect(await run(screen, "stty size")).toContain("40 120\r\n");
    await expect(screen.term.resize({ cols: 0, rows: 5 })).rejects.toBeInstanceOf(
      InvalidRequestError,
    );

    await screen.term.sendInput("exit 3\n");
    expect(await screen.term.wait()).toMatchObject({ exitCode: 3, signal: null });
  });

  it("sends Ctrl-C to the foreground program: sleep 100 ends, the shell lives on", async () => {
    const screen = await open((onData) => sandbox.pty.create({ onData }));
    await run(screen, "true");
    const started = Date.now();
    const from = screen.text().length;
    await screen.term.sendInput("sleep 100\n");
    await screen.waitFor("sleep 100", from);
    // ^C flushes typed-ahead input, so the probe is sent again after each one until it answers.
    let alive = false;
    for (let i = 0; i < 20 && !alive; i++) {
      await screen.term.sendInput("\x03");
      alive = await run(screen, "echo alive", 2000).then(
        () => true,
        () => false,
      );
    }
    expect(alive).toBe(true);
    expect(Date.now() - started).toBeLessThan(60_000);
    await screen.term.sendInput("exit\n");
    expect((await screen.term.wait()).exitCode).toBe(0);
  });

  it("keeps the process when disconnected, replays its history on reattach, and kill ends it", async () => {
    const first = await open((onData) => sandbox.pty.create({ onData }));
    await run(first, "echo HISTORY-$((20+22))");
    const pid = first.term.pid;
    first.term.disconnect();
    await expect(first.term.wait()).rejects.toBeInstanceOf(InvalidRequestError);
    expect((await sandbox.process.get(pid)).running).toBe(true);
    expect((await sandbox.process.get(pid)).pty).toEqual({ cols: 80, rows: 24 });

    const again = await open((onData) => sandbox.pty.connect(pid, { onData }));
    await again.waitFor("HISTORY-42");
    expect(await run(again, "echo back")).toContain("back\r\n");
    await again.term.kill();
    expect(await again.term.wait()).toMatchObject({ exitCode: null, signal: "SIGKILL" });
    expect((await sandbox.process.get(pid)).running).toBe(false);
  });

  it("runs a given command on a terminal, output readable as one stream", async () => {
    const term = await sandbox.pty.create({
      command: ["sh", "-c", "tty; stty size; exit 5"],
      cols: 50,
      rows: 10,
    });
    const chunks: Uint8Array[] = [];
    for await (const chunk of term) chunks.push(chunk);
    const shown = Buffer.concat(chunks).toString();
    expect(shown).toMatch(/^\/dev\/pts\/\d+\r\n10 50\r\n$/);
    expect((await term.wait()).exitCode).toBe(5);
  });

  it("a busybox sandbox's shell gets a terminal too", async () => {
    const small = await Sandbox.create({ ...daemon.client, runtime });
    try {
      const screen = await open((onData) => small.pty.create({ cols: 70, rows: 20, onData }));
      const shown = await run(screen, "tty; stty size");
      expect(shown).toMatch(/\/dev\/pts\/\d+\r\n20 70\r\n/);
      await screen.term.sendInput("exit 4\n");
      expect((await screen.term.wait()).exitCode).toBe(4);
    } finally {
      await small.terminate();
    }
  });

  it("refuses an unknown process", async () => {
    await expect(sandbox.pty.connect(999_999)).rejects.toBeInstanceOf(ProcessNotFoundError);
    await expect(sandbox.pty.create({ command: ["/no/such/program"] })).rejects.toMatchObject({
      code: "command_not_found",
    });
  });
});

/** Opens the raw WebSocket; resolves with the messages and how it ended, or the HTTP refusal. */
function rawSocket(
  route: string,
  token: string | undefined,
  send: (string | Buffer)[] = [],
): Promise<{ status?: number; body?: unknown; messages: string[]; closeCode?: number }> {
  return new Promise((resolve) => {
    const url = `${daemon.url.replace(/^http/, "ws")}${route}`;
    const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const messages: string[] = [];
    ws.on("unexpected-response", (req, res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode, body: JSON.parse(text), messages });
      });
    });
    ws.on("error", () => {});
    ws.on("open", () => {
      for (const m of send) ws.send(m);
    });
    ws.on("message", (data, binary) => {
      if (!binary) messages.push(String(data));
    });
    ws.on("close", (code) => resolve({ messages, closeCode: code }));
  });
}

describe("the process WebSocket's refusals and ends", () => {
  let sandbox: Sandbox;
  let pid: number;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime: "runc" });
    pid = (await sandbox.process.exec(["sleep", "300"], { background: true })).pid;
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });
  const route = (id: string, ref: string | number) => `/v1/sandboxes/${id}/processes/${ref}/stream`;
  const codeOf = (body: unknown) => (body as { error: { code: string } }).error.code;

  it("answers refusals over HTTP before the switch", async () => {
    const unknownSandbox = await rawSocket(route("sb_nosuchsandbox0", 1), daemon.token);
    expect([unknownSandbox.status, codeOf(unknownSandbox.body)]).toEqual([
      404,
      "sandbox_not_found",
    ]);
    const unknownProcess = await rawSocket(route(sandbox.id, 999_999), daemon.token);
    expect([unknownProcess.status, codeOf(unknownProcess.body)]).toEqual([
      404,
      "process_not_found",
    ]);
    const noToken = await rawSocket(route(sandbox.id, pid), undefined);
    expect([noToken.status, codeOf(noToken.body)]).toEqual([401, "unauthorized"]);
    const badQuery = await rawSocket(`${route(sandbox.id, pid)}?output=maybe`, daemon.token);
    expect([badQuery.status, codeOf(badQuery.body)]).toEqual([400, "invalid_request"]);
    // A refused upgrade's connection is closed by the daemon, whatever the client does.
    const closed = await new Promise<boolean>((resolve) => {
      const req = http.get(`${daemon.url}${route(sandbox.id, pid)}`, {
        headers: {
          connection: "upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
      });
      req.on("error", () => {});
      req.on("response", (res) => {
        res.resume();
        const timer = setTimeout(() => resolve(false), 5000);
        res.socket.once("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    });
    expect(closed).toBe(true);
    const doc = (await (await daemon.api("GET", "/openapi.json")).json()) as {
      paths: Record<string, { get?: { summary?: string } }>;
    };
    expect(doc.paths["/v1/sandboxes/{id}/processes/{ref}/stream"]?.get?.summary).toMatch(
      /WebSocket/,
    );
    // Without an upgrade the route says how to use it.
    const plain = await daemon.api("GET", route(sandbox.id, pid));
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as { error: { message: string } }).error.message).toMatch(
      /WebSocket/,
    );
  });

  it("another key cannot open the stream (404, as for a missing sandbox)", async () => {
    const keys = new Keys(daemon.client);
    const bob = await keys.create(`bob-${Date.now()}`);
    try {
      const refused = await rawSocket(route(sandbox.id, pid), bob.key);
      expect([refused.status, codeOf(refused.body)]).toEqual([404, "sandbox_not_found"]);
    } finally {
      await keys.revoke(bob.name);
    }
  });

  it("closes 1008 with an error message on an invalid input message", async () => {
    for (const bad of [
      '{"type":"resize","cols":-1,"rows":5}',
      "not json",
      '{"type":"stdin","data":"eA=="}',
    ]) {
      const ended = await rawSocket(`${route(sandbox.id, pid)}?output=false`, daemon.token, [bad]);
      expect(ended.closeCode, bad).toBe(1008);
      const last = JSON.parse(ended.messages.at(-1)!) as { type: string; code: string };
      expect(last).toMatchObject({ type: "error", code: "invalid_request" });
    }
    expect((await sandbox.process.get(pid)).running).toBe(true);
  });

  it("ends the socket when the sandbox ends, and when the key is revoked", async () => {
    const keys = new Keys(daemon.client);
    const carol = await keys.create(`carol-${Date.now()}`);
    const asCarol = { url: daemon.url, token: carol.key };
    const mine = await Sandbox.create({ ...asCarol, runtime: "runc" });
    const other = await Sandbox.create({ ...asCarol, runtime: "runc" });
    try {
      const ending = await mine.pty.create();
      const revoked = await other.pty.create();
      await mine.terminate();
      await expect(ending.wait()).rejects.toBeInstanceOf(SandboxNotRunningError);
      await keys.revoke(carol.name);
      await expect(revoked.wait()).rejects.toMatchObject({ code: "network_error" });
    } finally {
      await Sandbox.connect(other.id, daemon.client).then((s) => s.terminate());
      await Sandbox.connect(mine.id, daemon.client).then((s) => s.terminate());
    }
  });
});
