import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WS_PROTOCOL, WS_TICKET_PROTOCOL_PREFIX, WsTicketSchema } from "@paddock/protocol";
import { registerAuth } from "../src/api/auth.js";
import { registerErrorHandler } from "../src/api/error-handler.js";
import { registerTicketAuth, WsTickets, wsTicketRoutes } from "../src/api/routes/tickets.js";
import { silentLogger } from "../src/logger.js";
import type { KeyStore } from "../src/state/key-store.js";

const ADMIN = "pdk_admin-token";
const KEY = "pdk_alice-key";

describe("WsTickets", () => {
  it("gives a ticket's header back once, and never after it expires", () => {
    let now = 1000;
    const tickets = new WsTickets(() => now);
    const a = tickets.issue("Bearer a");
    expect(a.expiresInMs).toBe(30_000);
    expect(tickets.take(a.ticket)).toBe("Bearer a");
    expect(tickets.take(a.ticket)).toBeUndefined();
    const b = tickets.issue("Bearer b");
    now += a.expiresInMs;
    expect(tickets.take(b.ticket)).toBeUndefined();
    expect(tickets.take("made-up")).toBeUndefined();
  });

  it("keeps at most a bounded number waiting, dropping the oldest", () => {
    const tickets = new WsTickets();
    const first = tickets.issue("Bearer first");
    for (let i = 0; i < 1000; i++) tickets.issue("Bearer more");
    expect(tickets.take(first.ticket)).toBeUndefined();
  });
});

describe("a WebSocket handshake with a ticket", () => {
  let app: FastifyInstance;
  const live = new Set([KEY]);
  beforeAll(async () => {
    app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    registerErrorHandler(app, silentLogger);
    const tickets = new WsTickets();
    registerTicketAuth(app, tickets);
    const keys = { nameFor: (key: string) => (live.has(key) ? "alice" : undefined) };
    registerAuth(app, ADMIN, keys as unknown as KeyStore);
    app.get("/whoami", async (request) => request.principal);
    await app.register(wsTicketRoutes(tickets));
  });
  afterAll(() => app.close());

  const ticketFor = async (token: string) => {
    const res = await app.inject({
      method: "POST",
      url: "/v1/ws-tickets",
      headers: { authorization: `Bearer ${token}` },
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

  it("is no credential for a plain request", async () => {
    const ticket = await ticketFor(ADMIN);
    expect((await handshake(ticket, "h2c")).statusCode).toBe(401);
  });

  it("is refused once its key is revoked", async () => {
    const ticket = await ticketFor(KEY);
    live.delete(KEY);
    try {
      expect((await handshake(ticket)).statusCode).toBe(401);
    } finally {
      live.add(KEY);
    }
  });

  it("needs a token to be asked for", async () => {
    const res = await app.inject({ method: "POST", url: "/v1/ws-tickets" });
    expect(res.statusCode).toBe(401);
  });
});
