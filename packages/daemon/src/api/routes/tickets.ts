import { randomBytes } from "node:crypto";
import path from "node:path";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import {
  DownloadTicketRequestSchema,
  DownloadTicketSchema,
  ErrorBodySchema,
  SandboxIdParamsSchema,
  WS_TICKET_PROTOCOL_PREFIX,
  WsTicketSchema,
  type WsTicket,
} from "@paddock/protocol";
import { PaddockError } from "../../errors.js";
import { FILES } from "./files.js";

/** Long enough to connect or download right after asking; short enough that a leaked one is stale. */
const TICKET_TTL_MS = 30_000;
/** Tickets waiting at once; past it the oldest go (a client asking in a loop gains nothing). */
const MAX_TICKETS = 1000;

/** The routes a download ticket is good on, by what it downloads. */
const DOWNLOAD_ROUTES = { file: FILES, archive: `${FILES}/archive` } as const;
type DownloadRoute = keyof typeof DOWNLOAD_ROUTES;

/**
 * What a ticket is good for: any WebSocket handshake, or one download (one route, one sandbox,
 * one path). A ticket offered for anything else is refused (and used up).
 */
export type TicketScope =
  | { purpose: "websocket" }
  | { purpose: "download"; route: DownloadRoute; sandboxId: string; path: string };

const sameScope = (a: TicketScope, b: TicketScope): boolean => {
  const keys = Object.keys(a) as (keyof TicketScope)[];
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
};

/**
 * Single-use tickets (see the protocol's tickets.ts): each stands for the `Authorization` header
 * of the request that asked for it, so the one auth hook still decides who the caller is and a
 * key revoked in between is refused there.
 */
export class Tickets {
  private readonly tickets = new Map<
    string,
    { authorization: string; scope: TicketScope; expiresAt: number }
  >();

  constructor(private readonly now: () => number = Date.now) {}

  issue(authorization: string, scope: TicketScope): WsTicket {
    this.sweep();
    if (this.tickets.size >= MAX_TICKETS) {
      this.tickets.delete(this.tickets.keys().next().value!);
    }
    const ticket = randomBytes(24).toString("base64url");
    this.tickets.set(ticket, { authorization, scope, expiresAt: this.now() + TICKET_TTL_MS });
    return { ticket, expiresInMs: TICKET_TTL_MS };
  }

  /**
   * The header a ticket stands for, once: a used, unknown or expired ticket, or one offered for
   * another scope, gives undefined (and is gone either way).
   */
  take(ticket: string, scope: TicketScope): string | undefined {
    const entry = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    if (!entry || entry.expiresAt <= this.now() || !sameScope(entry.scope, scope)) return undefined;
    return entry.authorization;
  }

  private sweep(): void {
    const now = this.now();
    for (const [ticket, { expiresAt }] of this.tickets) {
      if (expiresAt <= now) this.tickets.delete(ticket);
    }
  }
}

/** The name a download is saved as: the path's last name; a directory's with `.tar`. */
export function downloadName(route: DownloadRoute, sandboxId: string, file: string): string {
  const name = path.posix.basename(file) || sandboxId;
  return route === "archive" ? `${name}.tar` : name;
}

/** `attachment` with the name both as plain ASCII (older clients) and exactly (RFC 6266). */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Lets a request without `Authorization` authenticate with a ticket: a WebSocket handshake that
 * offers one as a subprotocol, or a GET of a download route with `?ticket=` (the only routes
 * that read it). Register before the auth hook, which then sees the ticket's header.
 */
export function registerTicketAuth(app: FastifyInstance, tickets: Tickets): void {
  const saveAs = new WeakMap<FastifyRequest, string>();
  app.addHook("onRequest", async (request) => {
    if (request.headers.authorization !== undefined) return;
    if (request.headers.upgrade?.toLowerCase() === "websocket") {
      const offered = (request.headers["sec-websocket-protocol"] ?? "")
        .split(",")
        .map((p) => p.trim())
        .find((p) => p.startsWith(WS_TICKET_PROTOCOL_PREFIX));
      if (offered === undefined) return;
      const ticket = offered.slice(WS_TICKET_PROTOCOL_PREFIX.length);
      request.raw.headers.authorization = redeem(tickets, ticket, { purpose: "websocket" });
      return;
    }
    const route = downloadRoute(request);
    const query = request.query as { ticket?: unknown; path?: unknown } | undefined;
    if (route === undefined || typeof query?.ticket !== "string") return;
    const sandboxId = String((request.params as { id?: unknown }).id);
    const file = typeof query.path === "string" ? query.path : "";
    const scope = { purpose: "download", route, sandboxId, path: file } as const;
    request.raw.headers.authorization = redeem(tickets, query.ticket, scope);
    saveAs.set(request, downloadName(route, sandboxId, file));
  });
  // Only a ticket's download is an attachment: API clients read the same route as plain bytes.
  app.addHook("onSend", async (request, reply, payload) => {
    const name = saveAs.get(request);
    if (name !== undefined && reply.statusCode === 200) {
      reply.header("content-disposition", contentDisposition(name));
    }
    return payload;
  });
}

function downloadRoute(request: FastifyRequest): DownloadRoute | undefined {
  if (request.method !== "GET") return undefined;
  const url = request.routeOptions.url;
  return (Object.keys(DOWNLOAD_ROUTES) as DownloadRoute[]).find(
    (route) => DOWNLOAD_ROUTES[route] === url,
  );
}

function redeem(tickets: Tickets, ticket: string, scope: TicketScope): string {
  const authorization = tickets.take(ticket, scope);
  if (authorization !== undefined) return authorization;
  throw new PaddockError(
    "unauthorized",
    scope.purpose === "websocket"
      ? "the WebSocket ticket is unknown, already used or expired: ask POST /v1/ws-tickets for a new one right before connecting"
      : "the download ticket is unknown, already used, expired or for another download: ask POST /v1/sandboxes/{id}/files/download-tickets for a new one and GET the url it answers",
  );
}

export function ticketRoutes(tickets: Tickets): FastifyPluginAsyncZod {
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
        reply
          .status(201)
          .send(tickets.issue(request.headers.authorization!, { purpose: "websocket" })),
    );
    app.post(
      `${FILES}/download-tickets`,
      {
        schema: {
          summary:
            "A single-use link that downloads one file (or a directory as a tar) without a token, for a browser's download manager: GET its url within expiresInMs",
          params: SandboxIdParamsSchema,
          body: DownloadTicketRequestSchema,
          response: { 201: DownloadTicketSchema, "4xx": ErrorBodySchema },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const route: DownloadRoute = request.body.archive ? "archive" : "file";
        const scope: TicketScope = {
          purpose: "download",
          route,
          sandboxId: id,
          path: request.body.path,
        };
        const issued = tickets.issue(request.headers.authorization!, scope);
        const url = DOWNLOAD_ROUTES[route].replace(":id", encodeURIComponent(id));
        const query = new URLSearchParams({ path: request.body.path, ticket: issued.ticket });
        return reply.status(201).send({ ...issued, url: `${url}?${query}` });
      },
    );
  };
}
