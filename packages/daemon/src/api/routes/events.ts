import { PassThrough } from "node:stream";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { EVENT_KEEPALIVE_MS, EventsQuerySchema } from "@paddock/protocol";
import { EventBus, type LifecycleEvent } from "../../events/event-bus.js";

/** `Last-Event-ID` as a sequence number, or undefined (absent or not one). */
function lastEventId(header: string | string[] | undefined): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  return text !== undefined && /^\d{1,15}$/.test(text.trim()) ? Number(text) : undefined;
}

/** One server-sent event: `id` lets a client resume, `event` names the type. */
function frame(event: LifecycleEvent): string {
  const data = JSON.stringify(EventBus.toPublic(event));
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${data}\n\n`;
}

/** Sandbox lifecycle events as server-sent events; a key sees only its own sandboxes'. */
export function eventRoutes(events: EventBus): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/v1/events",
      {
        schema: {
          summary:
            "Sandbox lifecycle events (created, paused, resumed, failed, terminated, expired) as server-sent events; send Last-Event-ID to get the ones missed since",
          querystring: EventsQuerySchema,
        },
      },
      async (request, reply) => {
        const { principal } = request;
        const { sandboxId, after } = request.query;
        const visible = (e: LifecycleEvent) =>
          (principal.admin || e.owner === principal.name) &&
          (sandboxId === undefined || e.sandboxId === sandboxId);
        const out = new PassThrough();
        // A comment first: the headers go out now, so a client knows it is subscribed.
        out.write(": subscribed\n\n");
        const unsubscribe = events.subscribe(
          (e) => {
            if (visible(e)) out.write(frame(e));
          },
          after ?? lastEventId(request.headers["last-event-id"]),
        );
        const keepalive = setInterval(() => out.write(": keepalive\n\n"), EVENT_KEEPALIVE_MS);
        reply.raw.once("close", () => {
          clearInterval(keepalive);
          unsubscribe();
          out.destroy();
        });
        return reply
          .header("content-type", "text/event-stream; charset=utf-8")
          .header("cache-control", "no-cache")
          .header("x-accel-buffering", "no")
          .send(out);
      },
    );
  };
}
