import { createServer, request, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { PROCESS_STREAM_UPGRADE, type ProcessInput } from "@paddock/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManagedProcess } from "../src/processes/managed-process.js";
import type { ProcessTable } from "../src/processes/process-table.js";
import { registerProcessRoutes } from "../src/processes/routes.js";
import { Router } from "../src/router.js";
import { EventCollector, newTable, start, useBuiltSpawner } from "./process-fixtures.js";

interface Attached {
  socket: Socket;
  events: EventCollector;
  /** Resolves when the agent has closed the connection. */
  closed: Promise<void>;
  send(input: ProcessInput): boolean;
}

const stdin = (text: string): ProcessInput => ({
  type: "stdin",
  data: Buffer.from(text).toString("base64"),
});

describe("the process stream upgrade", () => {
  let server: Server;
  let port: number;
  let table: ProcessTable;

  beforeAll(async () => {
    useBuiltSpawner();
    table = newTable();
    const router = new Router();
    registerProcessRoutes(router, table);
    server = createServer((req, res) => void router.handle(req, res));
    server.on("upgrade", (req, socket, head) => void router.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  /** Upgraded connections are the server's no more: closed here after the tests. */
  const opened = new Set<Socket>();

  afterAll(async () => {
    for (const socket of opened) socket.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Upgrades to the stream of `ref`; rejects with the status and body of a refusal. */
  function attach(ref: string, output = true): Promise<Attached> {
    return new Promise((resolve, reject) => {
      const req = request({
        port,
        host: "127.0.0.1",
        path: `/processes/stream?ref=${ref}&output=${output}`,
        headers: { connection: "upgrade", upgrade: PROCESS_STREAM_UPGRADE },
        agent: false,
      });
      req.on("upgrade", (_res, socket: Socket, head: Buffer) => {
        opened.add(socket);
        const events = new EventCollector();
        events.feed(head.toString("utf8"));
        socket.setEncoding("utf8").on("data", (d: string) => events.feed(d));
        const closed = new Promise<void>((done) => socket.on("close", () => done()));
        socket.on("end", () => events.finish());
        socket.on("error", () => {});
        const send = (input: ProcessInput) => socket.write(`${JSON.stringify(input)}\n`);
        resolve({ socket, events, closed, send });
      });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => reject(new Error(`${res.statusCode} ${body}`)));
      });
      req.on("error", reject);
      req.end();
    });
  }

  const exec = (argv: string[], more: object = {}): Promise<ManagedProcess> =>
    start(table, { argv, stdin: true, ...more });

  it("writes stdin lines to the process; closeStdin ends it; the exit line, then the close", async () => {
    const proc = await exec(["cat"]);
    const { events, closed, send } = await attach(String(proc.pid));
    send(stdin("hello "));
    send(stdin("world\n"));
    await events.output("hello world\n");
    send({ type: "closeStdin" });
    await closed;
    expect(events.exit).toMatchObject({ exitCode: 0 });
    expect(events.types[0]).toBe("start");
    expect(events.types.at(-1)).toBe("exit");
  });

  it("with output=false carries only the start and the exit", async () => {
    const proc = await exec(["sh", "-c", "read line; echo got $line; echo err >&2"], {
      tag: "quiet",
    });
    const { events, closed, send } = await attach("quiet", false);
    send(stdin("x\n"));
    await closed;
    expect(events.types).toEqual(["start", "exit"]);
    expect(proc.exit?.exitCode).toBe(0);
  });

  it("drives a terminal: input, resize, ^D", async () => {
    const proc = await exec(["sh"], { pty: { cols: 80, rows: 24 }, stdin: false });
    const { events, closed, send } = await attach(String(proc.pid));
    send({ type: "resize", cols: 120, rows: 40 });
    send(stdin("stty size\n"));
    await events.output("40 120");
    expect(proc.info().pty).toEqual({ cols: 120, rows: 40 });
    send(stdin("\x04"));
    await closed;
    expect(events.exit).toMatchObject({ exitCode: 0 });
  });

  it("a dropped connection leaves the process running, and a new one replays its output", async () => {
    const proc = await exec(["sh"], { pty: { cols: 80, rows: 24 } });
    const first = await attach(String(proc.pid));
    first.send(stdin("echo one$((0+1))\n"));
    await first.events.output("one1");
    first.socket.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(proc.running).toBe(true);
    const second = await attach(String(proc.pid));
    await second.events.output("one1");
    second.send(stdin("exit 5\n"));
    await second.closed;
    expect(second.events.exit).toMatchObject({ exitCode: 5 });
  });

  it("a process that exits while input still flows gives its exit; later input is dropped", async () => {
    const proc = await exec(["head", "-c", "100000"]);
    const { events, closed, socket, send } = await attach(String(proc.pid));
    const chunk = stdin("y".repeat(8192));
    let stop = false;
    void closed.then(() => (stop = true));
    const pump = async () => {
      while (!stop && !socket.destroyed) {
        if (!send(chunk)) await Promise.race([closed, new Promise((r) => socket.once("drain", r))]);
      }
    };
    await Promise.all([pump(), closed]);
    expect(events.exit).toMatchObject({ exitCode: 0 });
    expect(events.stdout.length).toBe(100000);
  });

  it("input for a process started without stdin is dropped", async () => {
    const proc = await start(table, { argv: ["sh", "-c", "read x; echo read=$x"] });
    const { events, closed, send } = await attach(String(proc.pid));
    send(stdin("ignored\n"));
    await closed;
    expect(events.stdout).toBe("read=\n");
  });

  it("closes the connection on a malformed line, and the process lives on", async () => {
    const proc = await exec(["cat"]);
    const { socket, closed } = await attach(String(proc.pid));
    socket.write('{"type":"stdin","data":1}\n');
    await closed;
    expect(proc.running).toBe(true);
    proc.kill();
    await proc.done;
  });

  it("closes the connection on a line over the limit", async () => {
    const proc = await exec(["cat"]);
    const { socket, closed } = await attach(String(proc.pid));
    socket.write(`{"type":"stdin","data":"${"A".repeat(1024 * 1024 + 16)}`);
    await closed;
    proc.kill();
    await proc.done;
  });

  it("refuses a missing process before the switch", async () => {
    await expect(attach("no-such-tag")).rejects.toThrow(/^404 .*process_not_found/);
    await expect(attach("123456789")).rejects.toThrow(/^404/);
  });
});

describe("POST /processes/stdin", () => {
  it("answers 200 with the exit when the process exits mid-body", async () => {
    useBuiltSpawner();
    const table = newTable();
    const router = new Router();
    registerProcessRoutes(router, table);
    const server = createServer((req, res) => void router.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      // A grandchild holds its output: the exit is known once that is drained, after the
      // pipe to its stdin has broken.
      const proc = await start(table, {
        argv: ["sh", "-c", "head -c 5 >/dev/null; sleep 2 &"],
        stdin: true,
      });
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({
          port,
          host: "127.0.0.1",
          method: "POST",
          path: `/processes/stdin?ref=${proc.pid}`,
          headers: { "transfer-encoding": "chunked" },
        });
        req.on("response", (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        // The body goes on after the process has exited, and is never ended by us.
        req.write("hello world\n");
        const more = setInterval(() => req.write("more\n"), 20);
        void proc.done.then(() => setTimeout(() => clearInterval(more), 500));
      });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ running: false, exit: { exitCode: 0 } });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
