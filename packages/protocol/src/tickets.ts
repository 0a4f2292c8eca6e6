import { z } from "zod";
import { PathQuerySchema, SandboxPathSchema } from "./files.js";

/**
 * A browser cannot set `Authorization` on a WebSocket, nor on a link it downloads, so the web
 * console asks for a single-use ticket with its bearer token right before it connects or
 * downloads. A ticket is good for one use, within `expiresInMs`, for one purpose only, and acts as
 * the token that asked for it (a key revoked meanwhile is refused). The key itself never goes in a
 * URL.
 *
 * WebSockets: `POST /v1/ws-tickets`, then offer the ticket as a subprotocol:
 * `new WebSocket(url, [WS_PROTOCOL, WS_TICKET_PROTOCOL_PREFIX + ticket])`.
 */
export const WsTicketSchema = z.object({
  ticket: z.string(),
  expiresInMs: z.number(),
});
export type WsTicket = z.infer<typeof WsTicketSchema>;

/** The subprotocol the daemon selects; the ticket's own entry is never echoed back. */
export const WS_PROTOCOL = "paddock";
export const WS_TICKET_PROTOCOL_PREFIX = "paddock.ticket.";

/**
 * Downloads: `POST /v1/sandboxes/{id}/files/download-tickets` with this body, then let the
 * browser GET the answer's `url` (a link or a navigation): the file, or the directory as a tar
 * (`archive`), streams to its download manager with `Content-Disposition: attachment`.
 */
export const DownloadTicketRequestSchema = z.strictObject({
  path: SandboxPathSchema,
  /** The directory at `path` as a tar stream (`GET …/files/archive`) instead of a file. */
  archive: z.boolean().default(false),
});
export type DownloadTicketRequest = z.input<typeof DownloadTicketRequestSchema>;

export const DownloadTicketSchema = WsTicketSchema.extend({
  /** The download's URL, relative to the daemon: the ticket is good on it alone. */
  url: z.string(),
});
export type DownloadTicket = z.infer<typeof DownloadTicketSchema>;

/** The download routes' query: a path, and a download ticket in place of `Authorization`. */
export const DownloadQuerySchema = PathQuerySchema.extend({ ticket: z.string().optional() });
