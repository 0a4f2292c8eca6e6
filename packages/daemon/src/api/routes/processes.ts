import type { Readable } from "node:stream";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import {
  ErrorBodySchema,
  ExecRequestSchema,
  KillRequestSchema,
  ProcessInfoSchema,
  ProcessListSchema,
  ProcessRefParamsSchema,
  SandboxIdParamsSchema,
} from "@paddock/protocol";
import { proxyToAgent } from "../../agent/proxy.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";

const ref = (r: string) => `ref=${encodeURIComponent(r)}`;
const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

/** Process routes: validated here, then forwarded to the sandbox's agent as a byte stream. */
export function processRoutes(service: SandboxService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      "/v1/sandboxes/:id/processes",
      {
        schema: {
          summary:
            "Start a process. Foreground: the answer is an NDJSON event stream (start, stdout, stderr, exit; data base64) and the process is killed if the client disconnects. Background: 201 with the process, which outlives the request.",
          params: SandboxIdParamsSchema,
          body: ExecRequestSchema,
          response: { 201: ProcessInfoSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(service.agent(request.params.id), reply, {
          method: "POST",
          path: "/processes",
          body: JSON.stringify(request.body),
          contentType: "application/json",
        }),
    );

    app.get(
      "/v1/sandboxes/:id/processes",
      {
        schema: {
          summary: "List processes started through Paddock",
          params: SandboxIdParamsSchema,
          response: { 200: ProcessListSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(service.agent(request.params.id), reply, {
          method: "GET",
          path: "/processes",
        }),
    );

    app.get(
      "/v1/sandboxes/:id/processes/:ref",
      {
        schema: {
          summary: "Get a process by pid or tag",
          params: ProcessRefParamsSchema,
          response: { 200: ProcessInfoSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(service.agent(request.params.id), reply, {
          method: "GET",
          path: `/processes/get?${ref(request.params.ref)}`,
        }),
    );

    app.get(
      "/v1/sandboxes/:id/processes/:ref/events",
      {
        schema: {
          summary:
            "Attach to a process: its kept history since start, then live events until exit (NDJSON)",
          params: ProcessRefParamsSchema,
        },
      },
      (request, reply) =>
        proxyToAgent(service.agent(request.params.id), reply, {
          method: "GET",
          path: `/processes/events?${ref(request.params.ref)}`,
        }),
    );

    app.post(
      "/v1/sandboxes/:id/processes/:ref/kill",
      {
        schema: {
          summary: "Send a signal (default SIGKILL) to the process's whole group",
          params: ProcessRefParamsSchema,
          body: KillRequestSchema.optional().default({ signal: "SIGKILL" }),
          response: { 200: ProcessInfoSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(service.agent(request.params.id), reply, {
          method: "POST",
          path: `/processes/kill?${ref(request.params.ref)}`,
          body: JSON.stringify(request.body),
          contentType: "application/json",
        }),
    );

    app.post(
      "/v1/sandboxes/:id/processes/:ref/stdin",
      {
        schema: {
          summary:
            "Write the body (streamed) to the process's stdin; close=true closes stdin after it",
          params: ProcessRefParamsSchema,
          querystring: z.strictObject({ close: z.enum(["true", "false"]).default("false") }),
          body: z.any(),
          response: { 200: ProcessInfoSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(service.agent(request.params.id), reply, {
          method: "POST",
          path: `/processes/stdin?${ref(request.params.ref)}&close=${request.query.close}`,
          body: (request.body as Readable | undefined) ?? "",
          contentType: "application/octet-stream",
        }),
    );
  };
}
