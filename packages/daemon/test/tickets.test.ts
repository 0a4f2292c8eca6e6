import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import {
  DownloadQuerySchema,
  DownloadTicketSchema,
  SandboxIdParamsSchema,
  WS_PROTOCOL,
  WS_TICKET_PROTOCOL_PREFIX,
  WsTicketSchema,
  type DownloadTicketRequest,
} from "@paddock/protocol";
import { registerAuth } from "../src/api/auth.js";
import { registerErrorHandler } from "../src/api/error-handler.js";
import { FILES } from "../src/api/routes/files.js";
import {
  contentDisposition,
  downloadName,
  registerTicketAuth,
  ticketRoutes,
  Tickets,
  type TicketScope,
} from "../src/api/routes/tickets.js";
import { silentLogger } from "../src/logger.js";
import type { KeyStore } from "../src/state/key-store.js";

const ADMIN = "pdk_admin-token";
const KEY = "pdk_alice-key";

describe("Tickets", () => {
  const ws: TicketScope = { purpose: "websocket" };
  const file: TicketScope = { purpose: "download", route: "file", sandboxId: "sb_a", path: "/f" };

  it("gives a ticket's header back once, and never after it expires", () => {
    let now = 1000;
    const tickets = new Tickets(() => now);
    const a = tickets.issue("Bearer a", ws);
    expect(a.expiresInMs).toBe(30_000);
    expect(tickets.take(a.ticket, ws)).toBe("Bearer a");
    expect(tickets.take(a.ticket, ws)).toBeUndefined();
    const b = tickets.issue("Bearer b", file);
    now += a.expiresInMs;
    expect(tickets.take(b.ticket, file)).toBeUndefined();
    expect(tickets.take("made-up", ws)).toBeUndefined();
  });

  it("is good for its own scope only, and used up by a try at another", () => {
    const tickets = new Tickets();
    const others: TicketScope[] = [
      ws,
      { ...file, route: "archive" },
      { ...file, sandboxId: "sb_b" },
      { ...file, path: "/f/" },
    ];
    for (const other of others) {
      const { ticket } = tickets.issue("Bearer a", file);
      expect(tickets.take(ticket, other)).toBeUndefined();
      expect(tickets.take(ticket, file)).toBeUndefined();
    }
    const { ticket } = tickets.issue("Bearer a", ws);
    expect(tickets.take(ticket, file)).toBeUndefined();
  });

  it("keeps at most a bounded number waiting, dropping the oldest", () => {
    const tickets = new Tickets();
    const first = tickets.issue("Bearer first", ws);
    for (let i = 0; i < 1000; i++) tickets.issue("Bearer more", file);
    expect(tickets.take(first.ticket, ws)).toBeUndefined();
  });
});

describe("downloadName and contentDisposition", () => {
  it("names a file by its last name and a directory's tar after it (the root after the sandbox)", () => {
    expect(downloadName("file", "sb_a", "/tmp/report.csv")).toBe("report.csv");
    expect(downloadName("archive", "sb_a", "/tmp/dir")).toBe("dir.tar");
    expect(downloadName("archive", "sb_a", "/")).toBe("sb_a.tar");
  });

  it("quotes nothing a header could break on, and keeps the exact name in filename*", () => {
    expect(contentDisposition('ré "x"\\%.txt')).toBe(
      `attachment; filename="r_ _x___.txt"; filename*=UTF-8''r%C3%A9%20%22x%22%5C%25.txt`,
    );
  });
});

/** The ticket hooks and routes with the real auth hook, before stand-ins for the download routes. */
describe("tickets over HTTP", () => {
  let app: FastifyInstance;
  const live = new Set([KEY]);
  beforeAll(async () => {
    app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    registerErrorHandler(app, silentLogger);
    const tickets = new Tickets();
    registerTicketAuth(app, tickets);
    const keys = { nameFor: (key: string) => (live.has(key) ? "alice" : undefined) };
    registerAuth(app, ADMIN, keys as unknown as KeyStore);
    app.get("/whoami", async (request) => request.principal);
    const typed = app.withTypeProvider<ZodTypeProvider>();
    for (const url of [FILES, `${FILES}/archive`]) {
      typed.get(
        url,
        { schema: { params: SandboxIdParamsSchema, querystring: DownloadQuerySchema } },
        async (request) => ({ principal: request.principal, path: request.query.path, url }),
      );
    }
    await app.register(ticketRoutes(tickets));
  });
  afterAll(() => app.close());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** Runs `check` with KEY revoked. */
  const revoked = async (check: () => Promise<void>) => {
    live.delete(KEY);
    try {
      await check();
    } finally {
      live.add(KEY);
    }
  };

  describe("a WebSocket handshake with a ticket", () => {
    const ticketFor = async (token: string) => {
      const res = await app.inject({
        method: "POST",
        url: "/v1/ws-tickets",
        headers: bearer(token),
      });
      expect(res.statusCode).toBe(201);
      return WsTicketSchema.parse(res.json()).ticket;
    };
    const handshake = (ticket: string, upgrade = "websocket") =>
      app.inject({
        method: "GET",
        url: "/whoami",
        headers: {
          upgrade,
          connection: "Upgrade",
          "sec-websocket-protocol": `${WS_PROTOCOL}, ${WS_TICKET_PROTOCOL_PREFIX}${ticket}`,
        },
      });

    it("acts as the token that asked for it, once", async () => {
      const ticket = await ticketFor(KEY);
      const first = await handshake(ticket);
      expect(first.json()).toEqual({ admin: false, name: "alice" });
      const again = await handshake(ticket);
      expect(again.statusCode).toBe(401);
      expect(again.json().error.message).toContain("POST /v1/ws-tickets");
    });

    it("is no credential for a plain request, nor for a download", async () => {
      expect((await handshake(await ticketFor(ADMIN), "h2c")).statusCode).toBe(401);
      const ticket = await ticketFor(ADMIN);
      const res = await app.inject({
        method: "GET",
        url: `/v1/sandboxes/sb_one/files?path=/f&ticket=${ticket}`,
      });
      expect(res.statusCode).toBe(401);
    });

    it("is refused once its key is revoked", async () => {
      const ticket = await ticketFor(KEY);
      await revoked(async () => expect((await handshake(ticket)).statusCode).toBe(401));
    });

    it("needs a token to be asked for", async () => {
      const res = await app.inject({ method: "POST", url: "/v1/ws-tickets" });
      expect(res.statusCode).toBe(401);
    });
  });

  describe("a download link with a ticket", () => {
    const mint = async (token: string, body: DownloadTicketRequest, id = "sb_one") => {
      const res = await app.inject({
        method: "POST",
        url: `/v1/sandboxes/${id}/files/download-tickets`,
        headers: bearer(token),
        payload: body,
      });
      expect(res.statusCode).toBe(201);
      return DownloadTicketSchema.parse(res.json());
    };
    const get = (url: string) => app.inject({ method: "GET", url });

    it("downloads as the token that asked for it, once, as an attachment with the file's name", async () => {
      const { url, expiresInMs } = await mint(KEY, { path: "/tmp/a b/ré.txt" });
      expect(expiresInMs).toBe(30_000);
      expect(url).toMatch(
        /^\/v1\/sandboxes\/sb_one\/files\?path=%2Ftmp%2Fa\+b%2Fr%C3%A9\.txt&ticket=/,
      );
      const first = await get(url);
      expect(first.statusCode).toBe(200);
      expect(first.json()).toEqual({
        principal: { admin: false, name: "alice" },
        path: "/tmp/a b/ré.txt",
        url: FILES,
      });
      expect(first.headers["content-disposition"]).toBe(contentDisposition("ré.txt"));
      const again = await get(url);
      expect(again.statusCode).toBe(401);
      expect(again.json().error.message).toContain("download-tickets");
    });

    it("downloads a directory from the archive route as a .tar", async () => {
      const { url } = await mint(ADMIN, { path: "/srv/site", archive: true });
      const res = await get(url);
      expect(res.json()).toMatchObject({ path: "/srv/site", url: `${FILES}/archive` });
      expect(res.headers["content-disposition"]).toBe(contentDisposition("site.tar"));
    });

    it("is worthless for another path, sandbox or route, a handshake or a revoked key, and used up by the try", async () => {
      const tries: ((url: string) => Promise<number>)[] = [
        async (url) => (await get(url.replace("path=%2Ff", "path=%2Fg"))).statusCode,
        async (url) => (await get(url.replace("sb_one", "sb_two"))).statusCode,
        async (url) => (await get(url.replace("/files?", "/files/archive?"))).statusCode,
        async (url) =>
          (
            await app.inject({
              method: "GET",
              url: "/whoami",
              headers: {
                upgrade: "websocket",
                connection: "Upgrade",
                "sec-websocket-protocol": `${WS_TICKET_PROTOCOL_PREFIX}${new URL(url, "http://x").searchParams.get("ticket")}`,
              },
            })
          ).statusCode,
        async (url) => {
          let status = 0;
          await revoked(async () => void (status = (await get(url)).statusCode));
          return status;
        },
      ];
      for (const attempt of tries) {
        const { url } = await mint(KEY, { path: "/f" });
        expect(await attempt(url)).toBe(401);
        expect((await get(url)).statusCode).toBe(401);
      }
    });

    it("is read on the download routes only", async () => {
      const { url } = await mint(KEY, { path: "/f" });
      expect((await get(url.replace(/^[^?]*/, "/whoami"))).statusCode).toBe(401);
      expect((await get(url)).statusCode).toBe(200);
    });

    it("leaves a request with a token as it was: no ticket taken, no attachment", async () => {
      const { url } = await mint(KEY, { path: "/f" });
      const withToken = await app.inject({ method: "GET", url, headers: bearer(ADMIN) });
      expect(withToken.json().principal).toEqual({ admin: true, name: null });
      expect(withToken.headers["content-disposition"]).toBeUndefined();
      expect((await get(url)).statusCode).toBe(200);
    });

    it("needs a token and an absolute path to be asked for", async () => {
      const url = "/v1/sandboxes/sb_one/files/download-tickets";
      const anonymous = await app.inject({ method: "POST", url, payload: { path: "/f" } });
      expect(anonymous.statusCode).toBe(401);
      const relative = await app.inject({
        method: "POST",
        url,
        headers: bearer(KEY),
        payload: { path: "f" },
      });
      expect(relative.statusCode).toBe(400);
    });
  });
});
