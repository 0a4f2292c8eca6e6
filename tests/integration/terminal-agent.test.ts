import { request } from "node:http";
import path from "node:path";
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import {
  AGENT_SOCKET_NAME,
  PROCESS_STREAM_UPGRADE,
  ProcessEventSchema,
  ProcessInfoSchema,
  type ProcessInfo,
  type ProcessInput,
} from "@paddock/protocol";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

/**
 * Terminals in real sandboxes, through the daemon's process API (exec with pty, events) and,
 * for live input and resize, through the agent's process stream on its socket (the public
 * WebSocket is built on that stream elsewhere).
 */
let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

const PTY = { cols: 91, rows: 27 };
const stdin = (text: string): ProcessInput => ({
  type: "stdin",
  data: Buffer.from(text).toString("base64"),
});

/** Output as text and event types, gathered from NDJSON event lines. */
class Events {
  types: string[] = [];
  stdout = "";
  exitCode: number | null | undefined;
  private rest = "";
  private readonly waiters = new Set<() => void>();

  feed(chunk: string): void {
    this.rest += chunk;
    let nl: number;
    while ((nl = this.rest.indexOf("\n")) !== -1) {
      const event = ProcessEventSchema.parse(JSON.parse(this.rest.slice(0, nl)));
      this.rest = this.rest.slice(nl + 1);
      this.types.push(event.type);
      if (event.type === "stdout") this.stdout += Buffer.from(event.data, "base64").toString();
      if (event.type === "exit") this.exitCode = event.exitCode;
    }
    for (const w of [...this.waiters]) w();
  }

  until(test: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!test()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(`no ${what} within ${timeoutMs} ms; output: ${JSON.stringify(this.stdout)}`),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  output(text: string): Promise<void> {
    return this.until(() => this.stdout.includes(text), JSON.stringify(text));
  }
}

describe.each(RUNTIMES)("terminals on %s", (runtime) => {
  describe.each(["busybox", "debian"])("in %s", (image) => {
    let sandbox: Sandbox;
    beforeAll(async () => {
      sandbox = await Sandbox.create({ ...daemon.client, runtime, image, memoryMiB: 512 });
    });
    afterAll(async () => {
      await sandbox?.terminate();
    });

    async function exec(body: object): Promise<ProcessInfo> {
      const res = await daemon.api("POST", `/v1/sandboxes/${sandbox.id}/processes`, {
        background: true,
        pty: PTY,
        ...body,
      });
      expect(res.status, await res.clone().text()).toBe(201);
      return ProcessInfoSchema.parse(await res.json());
    }

    /** Runs a terminal process through the daemon and reads its events to the exit. */
    async function run(body: object): Promise<Events> {
      const info = await exec(body);
      const res = await daemon.api(
        "GET",
        `/v1/sandboxes/${sandbox.id}/processes/${info.pid}/events`,
      );
      const events = new Events();
      events.feed(await res.text());
      return events;
    }

    /** The agent's process stream of `pid`, on the sandbox's agent socket. */
    function stream(
      pid: number,
    ): Promise<{ events: Events; send(i: ProcessInput): void; socket: Socket }> {
      const socketPath = path.join(
        daemon.dataDir,
        "sandboxes",
        sandbox.id,
        "sock",
        AGENT_SOCKET_NAME,
      );
      return new Promise((resolve, reject) => {
        const req = request({
          socketPath,
          path: `/processes/stream?ref=${pid}`,
          headers: { connection: "upgrade", upgrade: PROCESS_STREAM_UPGRADE },
        });
        req.on("upgrade", (_res, socket: Socket, head: Buffer) => {
          const events = new Events();
          events.feed(head.toString());
          socket.setEncoding("utf8").on("data", (d: string) => events.feed(d));
          socket.on("error", () => {});
          resolve({ events, socket, send: (i) => socket.write(`${JSON.stringify(i)}\n`) });
        });
        req.on("response", (res) => reject(new Error(`refused: ${res.statusCode}`)));
        req.on("error", reject);
        req.end();
      });
    }

    it("tty and stty size: a terminal of the requested size, TERM set, no stderr", async () => {
      const events = await run({
        argv: ["sh", "-c", "tty; stty size; echo $TERM; echo e >&2; exit 3"],
      });
      expect(events.stdout).toMatch(/^\/dev\/pts\/\d+\r\n27 91\r\nxterm-256color\r\ne\r\n$/);
      expect(events.types).not.toContain("stderr");
      expect(events.exitCode).toBe(3);
    });

    it("resize: stty size follows and the foreground process gets SIGWINCH", async () => {
      const info = await exec({
        argv: [
          "sh",
          "-c",
          "trap 'echo WINCH; stty size' WINCH; echo ready; while :; do sleep 0.1; done",
        ],
      });
      const { events, send, socket } = await stream(info.pid);
      await events.output("ready");
      send({ type: "resize", cols: 120, rows: 40 });
      await events.output("WINCH\r\n40 120\r\n");
      const now = await daemon.api("GET", `/v1/sandboxes/${sandbox.id}/processes/${info.pid}`);
      expect(ProcessInfoSchema.parse(await now.json()).pty).toEqual({ cols: 120, rows: 40 });
      socket.destroy();
      await daemon.api("POST", `/v1/sandboxes/${sandbox.id}/processes/${info.pid}/kill`, {});
    });

    it("job control: ^C stops the foreground job only, the shell and its background job live on", async () => {
      const info = await exec({ argv: ["sh", "-i"], env: { PS1: "$ " } });
      const { events, send, socket } = await stream(info.pid);
      // Results are computed so they differ from the echo of what was typed.
      send(stdin("sleep 1000 & echo bg$((1+1)); sleep 100\n"));
      await events.output("bg2");
      await new Promise((r) => setTimeout(r, 500));
      send(stdin("\x03"));
      // The ^C is gone from the input line (gVisor keeps it there; the spawner flushes it), so
      // the next command is read on its own.
      send(stdin("kill -0 $! && echo alive$((2+2))\n"));
      await events.output("alive4");
      send(stdin("kill $!; exit 6\n"));
      await events.until(() => events.exitCode !== undefined, "the exit");
      expect(events.exitCode).toBe(6);
      socket.destroy();
    });

    it("with no command runs root's login shell", async () => {
      const info = await exec({ argv: [] });
      expect(info.argv).toEqual([image === "debian" ? "/bin/bash" : "/bin/sh"]);
      const { events, send } = await stream(info.pid);
      send(stdin("echo shell$((3+3)); exit\n"));
      await events.until(() => events.exitCode !== undefined, "the exit");
      expect(events.stdout).toContain("shell6");
    });

    it("a missing command is command_not_found", async () => {
      const res = await daemon.api("POST", `/v1/sandboxes/${sandbox.id}/processes`, {
        argv: ["no-such-command"],
        pty: PTY,
        background: true,
      });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: "command_not_found" } });
    });
  });
});
