import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_STATUS } from "@paddock/protocol";
import { AgentError, Router, sendJson } from "../src/router.js";
import { health } from "../src/health.js";

interface Reply {
  status: number;
  contentType: string | undefined;
  body: unknown;
}

describe("Router", () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const router = new Router()
      .on("GET", "/health", health)
      .on("GET", "/echo", (_req, res, url) => sendJson(res, 200, { q: url.searchParams.get("q") }))
      .on("POST", "/not-running", () => {
        throw new AgentError("sandbox_not_running", "not now");
      })
      .on("GET", "/timeout", async () => {
        await Promise.resolve();
        throw new AgentError("timeout", "too slow");
      })
      .on("GET", "/boom", () => {
        throw new Error("kaput");
      })
      .on("GET", "/throws-string", () => {
        throw "just a string";
      })
      .on("GET", "/half", (_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("partial");
        throw new Error("failed mid-body");
      });
    server = createServer((req, res) => void router.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  async function call(method: string, path: string): Promise<Reply> {
    const res = await fetch(base + path, { method });
    return {
      status: res.status,
      contentType: res.headers.get("content-type") ?? undefined,
      body: await res.json(),
    };
  }

  it("serves a registered route", async () => {
    const reply = await call("GET", "/health");
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe("application/json");
    expect(reply.body).toEqual({
      status: "ok",
      version: expect.any(String),
      agentStarts: expect.any(Number),
    });
  });

  it("matches the path without its query and hands the handler the URL", async () => {
    expect((await call("GET", "/echo?q=hi")).body).toEqual({ q: "hi" });
  });

  it("answers an unknown path with 404 route_not_found JSON", async () => {
    const reply = await call("GET", "/nope");
    expect(reply.status).toBe(404);
    expect(reply.contentType).toBe("application/json");
    expect(reply.body).toEqual({
      error: { code: "route_not_found", message: "no agent route GET /nope" },
    });
  });

  it("answers a known path with the wrong method with 404", async () => {
    const reply = await call("DELETE", "/health");
    expect(reply.status).toBe(404);
    expect((reply.body as { error: { code: string } }).error.code).toBe("route_not_found");
  });

  it("does not match a path with a trailing slash", async () => {
    expect((await call("GET", "/health/")).status).toBe(404);
  });

  it("maps an AgentError's code to its status", async () => {
    const reply = await call("POST", "/not-running");
    expect(reply.status).toBe(ERROR_STATUS.sandbox_not_running);
    expect(reply.status).toBe(409);
    expect(reply.body).toEqual({ error: { code: "sandbox_not_running", message: "not now" } });
  });

  it("maps an AgentError thrown after an await", async () => {
    const reply = await call("GET", "/timeout");
    expect(reply.status).toBe(504);
    expect(reply.body).toEqual({ error: { code: "timeout", message: "too slow" } });
  });

  it("turns any other Error into 500 internal", async () => {
    const reply = await call("GET", "/boom");
    expect(reply.status).toBe(500);
    expect(reply.body).toEqual({ error: { code: "internal", message: "kaput" } });
  });

  it("turns a thrown non-Error into 500 internal", async () => {
    const reply = await call("GET", "/throws-string");
    expect(reply.status).toBe(500);
    expect(reply.body).toEqual({ error: { code: "internal", message: "just a string" } });
  });

  it("cuts the connection when a handler fails after sending headers", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = request(`${base}/half`, (res) => {
        expect(res.statusCode).toBe(200);
        res.on("data", () => {});
        res.on("end", () => resolve("ended"));
        res.on("error", () => resolve("aborted"));
        res.on("aborted", () => resolve("aborted"));
      });
      req.on("error", () => resolve("aborted"));
      req.end();
    });
    expect(outcome).toBe("aborted");
  });

  it("keeps serving after errors", async () => {
    expect((await call("GET", "/health")).status).toBe(200);
  });
});
