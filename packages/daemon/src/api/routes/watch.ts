import type { FastifyPluginAsync } from "fastify";
import { WatchQuerySchema } from "@paddock/protocol";
import { WATCH_EVENTS } from "../../agent/event-lines.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";
import { agentQuery, longOperation, registerAgentRoutes } from "./agent-route.js";

/**
 * `GET /v1/sandboxes/:id/files/watch`: a directory's changes as an NDJSON stream of
 * WatchEvents, watched by the agent inside the sandbox (inotify). The client closing the stream
 * stops the watch.
 */
export function watchRoutes(service: SandboxService): FastifyPluginAsync {
  return async (app) =>
    registerAgentRoutes(app, service, [
      {
        method: "GET",
        url: "/v1/sandboxes/:id/files/watch",
        summary:
          "Watch a directory (recursive=true: and every directory below it): an NDJSON stream of changes, ready first",
        querystring: WatchQuerySchema,
        stream: WATCH_EVENTS,
        // A recursive watch is answered once every directory below is watched.
        extraTimeMs: (query) => (query.recursive ? longOperation() : 0),
        agentPath: (_p, query) => `/files/watch?${agentQuery(query)}`,
      },
    ]);
}
