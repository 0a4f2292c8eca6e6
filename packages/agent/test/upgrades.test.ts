import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError, Router } from "../src/router.js";

interface Outcome {
  /** The status of a refusal, or 101 once switched. */
  status: number;
  body: string;
}

describe("Router upgrades", () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    const router = new Router()
      .onUpgrade("echo", (_req, connection, head) => {
        connection.write(
          "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n",
        );
        if (head.length > 0) connection.write(head);
        connection.pipe(connection);
      })
      .onUpgrade("refuses", async () => {
        await Promise.resolve();
        throw new AgentError("payload_too_large", "too big for this test");
      });
    server = createServer((_req, res) => res.end());
    server.on("upgrade", (req, socket, head) => void router.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function upgrade(protocol: string, send = ""): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      const req = request({
        port,
        host: "127.0.0.1",
        headers: { connection: "upgrade", upgrade: protocol },
        agent: false,
      });
      req.on("upgrade", (_res, socket) => {
        let echoed = "";
        socket.setEncoding("utf8").on("data", (d: string) => {
          echoed += d;
          if (echoed.length < send.length) return;
          resolve({ status: 101, body: echoed });
          socket.destroy();
        });
        socket.write(send);
      });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  it("hands a connection to the handler registered for its protocol", async () => {
    expect(await upgrade("echo", "ping")).toEqual({ status: 101, body: "ping" });
  });

  it("refuses an unknown protocol with a plain 400 answer", async () => {
    const outcome = await upgrade("nonsense");
    expect(outcome.status).toBe(400);
    expect(JSON.parse(outcome.body)).toMatchObject({ error: { code: "invalid_request" } });
    expect(outcome.body).toContain("nonsense");
  });

  it("answers a handler's error before the switch with its status", async () => {
    const outcome = await upgrade("refuses");
    expect(outcome.status).toBe(413);
    expect(JSON.parse(outcome.body)).toEqual({
      error: { code: "payload_too_large", message: "too big for this test" },
    });
  });
});
