import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { BULK_UPLOAD_BYTES, ErrorBodySchema, SandboxIdParamsSchema } from "@paddock/protocol";
import { bulkUploadToAgent } from "../../agent/bulk-upload.js";
import { proxyToAgent, type ProxyRequest } from "../../agent/proxy.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";

type Params = { id: string } & Record<string, string>;
type Query = Record<string, string | number | boolean | undefined>;

/**
 * One public route that a sandbox's agent carries out: the daemon validates the request with
 * the protocol's schemas, then forwards it and streams the answer back.
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
  /** The answer's schema (documentation); streamed answers have none. */
  response?: z.ZodType;
  status?: 200 | 201;
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
      handler: (request, reply) => {
        const params = request.params as Params;
        const forward: ProxyRequest = {
          method: route.method,
          path: route.agentPath(params, (request.query ?? {}) as Query),
        };
        const length = Number(request.headers["content-length"]);
        if (route.bulkUpload && length >= BULK_UPLOAD_BYTES) {
          const body = request.body as Readable;
          return bulkUploadToAgent(service.agent(params.id), reply, forward.path, body, length);
        }
        if (raw) {
          forward.body = (request.body as Readable | string | undefined) ?? "";
          forward.contentType = route.rawContentType ?? "application/octet-stream";
        } else if (route.body) {
          forward.body = JSON.stringify(request.body);
          forward.contentType = "application/json";
        }
        return proxyToAgent(service.agent(params.id), reply, forward);
      },
    });
  }
}
