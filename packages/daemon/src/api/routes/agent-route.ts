import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import {
  AGENT_TIMEOUTS,
  BULK_UPLOAD_BYTES,
  ErrorBodySchema,
  SandboxIdParamsSchema,
} from "@paddock/protocol";
import { bulkUpload } from "../../agent/bulk-upload.js";
import type { AgentRequest, Expected } from "../../agent/client.js";
import type { EventProtocol } from "../../agent/event-lines.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";

type Params = { id: string } & Record<string, string>;
type Query = Record<string, string | number | boolean | undefined>;

/**
 * One public route that a sandbox's agent carries out: the daemon validates the request with
 * the protocol's schemas, forwards it through the agent's client, which checks the answer, and
 * sends the answer on (a stream as it comes).
 */
export interface AgentRoute {
  method: "GET" | "POST" | "PUT" | "DELETE";
  url: string;
  summary: string;
  params?: z.ZodType<Params>;
  querystring?: z.ZodType<Query>;
  /** "raw": the body is streamed on as-is (uploads, stdin); a schema: a validated JSON body. */
  body?: z.ZodType | "raw";
  rawContentType?: string;
  /** A JSON answer's schema: the agent's answer is checked against it, and it is documented. */
  response?: z.ZodType;
  status?: 200 | 201;
  /** A streamed answer: an event stream of this protocol (checked event by event) or bytes. */
  stream?: EventProtocol | "bytes";
  /**
   * What the agent may take beyond the handshake timeout before answering (AGENT_TIMEOUTS):
   * routes that wait by design or work through whole trees.
   */
  extraTimeMs?: (query: Query) => number;
  /** An upload: large ones of known length go to the agent in bulk (see BULK_UPLOAD_BYTES). */
  bulkUpload?: boolean;
  /** The agent's path, built from validated values only. */
  agentPath: (params: Params, query: Query) => string;
}

/** The agent's query string from validated values (modes go as octal text). */
export function agentQuery(values: Query): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    search.set(
      key,
      key === "mode" && typeof value === "number" ? value.toString(8) : String(value),
    );
  }
  return search.toString();
}

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

/** Extra time for the agent's long file operations (see AgentRoute.extraTimeMs). */
export const longOperation = () => AGENT_TIMEOUTS.longOperationMs;

export function registerAgentRoutes(
  app: FastifyInstance,
  service: SandboxService,
  routes: AgentRoute[],
): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  for (const route of routes) {
    const raw = route.body === "raw";
    typed.route({
      method: route.method,
      url: route.url,
      schema: {
        summary: route.summary,
        params: route.params ?? SandboxIdParamsSchema,
        ...(route.querystring ? { querystring: route.querystring } : {}),
        ...(route.body ? { body: raw ? z.any() : (route.body as z.ZodType) } : {}),
        ...(route.response
          ? { response: { [route.status ?? 200]: route.response, ...errors } }
          : {}),
      },
      handler: async (request, reply) => {
        const params = request.params as Params;
        const query = (request.query ?? {}) as Query;
        const agent = await service.ready(params.id);
        // The client going away cuts the agent's request (a foreground process dies with it).
        const gone = new AbortController();
        reply.raw.once("close", () => {
          if (!reply.raw.writableFinished) gone.abort();
        });
        const forward: AgentRequest = {
          method: route.method,
          path: route.agentPath(params, query),
          signal: gone.signal,
          timeoutMs: agent.timeouts.handshakeMs + (route.extraTimeMs?.(query) ?? 0),
        };
        const length = Number(request.headers["content-length"]);
        if (route.bulkUpload && length >= BULK_UPLOAD_BYTES) {
          const body = request.body as Readable;
          const entry = await bulkUpload(agent, forward.path, body, length, gone.signal);
          return reply.status(200).send(entry);
        }
        if (raw) {
          forward.body = (request.body as Readable | string | undefined) ?? "";
          forward.contentType = route.rawContentType ?? "application/octet-stream";
        } else if (route.body) {
          forward.body = JSON.stringify(request.body);
          forward.contentType = "application/json";
        }
        const expected: Expected<unknown> = {
          events: typeof route.stream === "object" ? route.stream : undefined,
          bytes: route.stream === "bytes",
        };
        if (route.response) expected.json = { status: route.status ?? 200, schema: route.response };
        const answer = await agent.request(forward, expected);
        reply.status(answer.status);
        if (answer.kind === "stream") {
          reply.headers({ ...answer.headers, "cache-control": "no-store" });
          // Each event reaches the client as soon as it comes.
          request.raw.socket?.setNoDelay(true);
        }
        return reply.send(answer.body);
      },
    });
  }
}
