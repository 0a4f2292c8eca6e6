import { z } from "zod";
import { RuntimeSchema } from "./sandbox.js";

/** Sandbox lifecycle events, in the order a sandbox can go through them. */
export const SANDBOX_EVENT_TYPES = [
  "created",
  "paused",
  "resumed",
  /** Ended by the daemon (its agent or container died, or a create failed); `reason` says why. */
  "failed",
  /** Ended on request (API, CLI, SDK). */
  "terminated",
  /** Ended by its timeout. */
  "expired",
] as const;
export const SandboxEventTypeSchema = z.enum(SANDBOX_EVENT_TYPES);
export type SandboxEventType = z.infer<typeof SandboxEventTypeSchema>;

/**
 * One event of `GET /v1/events` (server-sent events: the SSE `event` field is `type`, the `id`
 * field is `seq`, the data is this object as JSON). A key sees its own sandboxes' events only.
 */
export const SandboxEventSchema = z.object({
  /** Increases by one per event of this daemon run; send it back as `Last-Event-ID` to resume. */
  seq: z.number().int(),
  type: SandboxEventTypeSchema,
  sandboxId: z.string(),
  runtime: RuntimeSchema,
  /** When it happened (ISO 8601). */
  time: z.string(),
  /** Why a sandbox failed or ended; null otherwise. */
  reason: z.string().nullable(),
});
export type SandboxEvent = z.infer<typeof SandboxEventSchema>;

export const EventsQuerySchema = z.strictObject({
  /** Only this sandbox's events. */
  sandboxId: z.string().optional(),
  /**
   * First the kept events after this `seq` (as the SSE `Last-Event-ID` header does, for clients
   * that cannot set headers), then new ones.
   */
  after: z.coerce.number().int().min(0).optional(),
});
export type EventsQuery = z.infer<typeof EventsQuerySchema>;

/** How many past events the daemon keeps for clients that reconnect with `Last-Event-ID`. */
export const EVENT_HISTORY_SIZE = 1000;
/** A comment line goes out this often so proxies and clients see the stream is alive. */
export const EVENT_KEEPALIVE_MS = 15_000;
