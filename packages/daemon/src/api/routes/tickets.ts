import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import {
  ErrorBodySchema,
  WS_TICKET_PROTOCOL_PREFIX,
  WsTicketSchema,
  type WsTicket,
} from "@paddock/protocol";
import { PaddockError } from "../../errors.js";

/** Long enough to open a socket right after asking; short enough that a leaked one is stale. */
const TICKET_TTL_MS = 30_000;
/** Tickets waiting at once; past it the oldest go (a client asking in a loop gains nothing). */
const MAX_TICKETS = 1000;

/**
 * Single-use WebSocket tickets (see WsTicketSchema): each stands for the `Authorization` header
 * of the request that asked for it, so the one auth hook still decides who the caller is and a
 * key revoked in between is refused there.
 */
export class WsTickets {
  private readonly tickets = new Map<string, { authorization: string; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  issue(authorization: string): WsTicket {
    this.sweep();
    if (this.tickets.size >= MAX_TICKETS) {
      this.tickets.delete(this.tickets.keys().next().value!);
    }
    const ticket = randomBytes(24).toString("base64url");
    this.tickets.set(ticket, { authorization, expiresAt: this.now() + TICKET_TTL_MS });
    return { ticket, expiresInMs: TICKET_TTL_MS };
  }

  /** The header a ticket stands for, once: a used, unknown or expired ticket gives undefined. */
  take(ticket: string): string | undefined {
    const entry = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    return entry && entry.expiresAt > this.now() ? entry.authorization : undefined;
  }

  private sweep(): void {
    const now = this.now();
    for (const [ticket, { expiresAt }] of this.tickets) {
      if (expiresAt <= now) this.tickets.delete(ticket);
    }
  }
}

/**
 * Lets a WebSocket handshake without `Authorization` authenticate with a ticket offered as a
 * subprotocol. Register before the auth hook, which then sees the ticket's header.
 */
export function registerTicketAuth(app: FastifyInstance, tickets: WsTickets): void {
  app.addHook("onRequest", async (request) => {
    if (request.headers.authorization !== undefined) return;
    if (request.headers.upgrade?.toLowerCase() !== "websocket") return;
    const offered = (request.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .find((p) => p.startsWith(WS_TICKET_PROTOCOL_PREFIX));
    if (offered === undefined) return;
    const authorization = tickets.take(offered.slice(WS_TICKET_PROTOCOL_PREFIX.length));
    if (authorization === undefined) {
      throw new PaddockError(
        "unauthorized",
        "the WebSocket ticket is unknown, already used or expired: ask POST /v1/ws-tickets for a new one right before connecting",
      );
    }
    request.raw.headers.authorization = authorization;
  });
}

export function wsTicketRoutes(tickets: WsTickets): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      "/v1/ws-tickets",
      {
        schema: {
          summary:
            "A single-use ticket for one WebSocket (for browsers, which cannot set Authorization on one): offer it as the subprotocol paddock.ticket.<ticket> within expiresInMs",
          response: { 201: WsTicketSchema, "4xx": ErrorBodySchema },
        },
      },
      // The auth hook has checked this header before the handler runs.
      async (request, reply) =>
        reply.status(201).send(tickets.issue(request.headers.authorization!)),
    );
  };
}
