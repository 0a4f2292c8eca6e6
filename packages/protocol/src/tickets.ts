import { z } from "zod";

/**
 * A browser cannot set `Authorization` on a WebSocket, so the web console asks for a ticket with
 * its bearer token (`POST /v1/ws-tickets`) right before connecting, and offers it as a
 * WebSocket subprotocol: `new WebSocket(url, [WS_PROTOCOL, WS_TICKET_PROTOCOL_PREFIX + ticket])`.
 * A ticket is good for one connection, within `expiresInMs`, and acts as the token that asked for
 * it (a key revoked meanwhile is refused). The key itself never goes in a URL.
 */
export const WsTicketSchema = z.object({
  ticket: z.string(),
  expiresInMs: z.number(),
});
export type WsTicket = z.infer<typeof WsTicketSchema>;

/** The subprotocol the daemon selects; the ticket's own entry is never echoed back. */
export const WS_PROTOCOL = "paddock";
export const WS_TICKET_PROTOCOL_PREFIX = "paddock.ticket.";
