import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import {
  CreateSandboxRequestSchema,
  ErrorBodySchema,
  HealthSchema,
  ListSandboxesQuerySchema,
  SandboxIdParamsSchema,
  SandboxListSchema,
  SandboxSchema,
  SetTimeoutRequestSchema,
} from "@paddock/protocol";
import { toInfo, type SandboxService } from "../../sandboxes/sandbox-service.js";

export function sandboxRoutes(service: SandboxService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      "/v1/sandboxes",
      {
        schema: {
          summary: "Create a sandbox; returns once its agent answers",
          body: CreateSandboxRequestSchema,
          response: { 201: SandboxSchema, "4xx": ErrorBodySchema, "5xx": ErrorBodySchema },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await service.create(request.body, request.principal)),
    );

    app.get(
      "/v1/sandboxes",
      {
        schema: {
          summary: "List sandboxes, optionally by state and labels (label=key=value, repeated)",
          querystring: ListSandboxesQuerySchema,
          response: { 200: SandboxListSchema },
        },
      },
      async (request) => {
        const labels = Object.fromEntries(
          request.query.label.map((l) => {
            const at = l.indexOf("=");
            return [l.slice(0, at), l.slice(at + 1)];
          }),
        );
        const owner = request.principal.admin ? undefined : request.principal.name;
        return { sandboxes: service.list({ state: request.query.state, labels, owner }) };
      },
    );

    app.get(
      "/v1/sandboxes/:id",
      {
        schema: {
          summary: "Get a sandbox",
          params: SandboxIdParamsSchema,
          response: { 200: SandboxSchema, "4xx": ErrorBodySchema },
        },
      },
      async (request) => toInfo(service.get(request.params.id)),
    );

    app.get(
      "/v1/sandboxes/:id/health",
      {
        schema: {
          summary: "Ask the sandbox's agent whether it answers",
          params: SandboxIdParamsSchema,
          response: { 200: HealthSchema, "4xx": ErrorBodySchema, "5xx": ErrorBodySchema },
        },
      },
      async (request) => service.agentHealth(request.params.id),
    );

    app.post(
      "/v1/sandboxes/:id/timeout",
      {
        schema: {
          summary:
            "Give a sandbox timeoutSeconds of running time from now (shorter or longer); a paused sandbox gets them from its resume",
          params: SandboxIdParamsSchema,
          body: SetTimeoutRequestSchema,
          response: { 200: SandboxSchema, "4xx": ErrorBodySchema },
        },
      },
      async (request) => toInfo(service.setTimeout(request.params.id, request.body.timeoutSeconds)),
    );

    app.delete(
      "/v1/sandboxes/:id",
      {
        schema: {
          summary: "Terminate a sandbox and remove everything it had",
          params: SandboxIdParamsSchema,
          response: { 200: SandboxSchema, "4xx": ErrorBodySchema },
        },
      },
      async (request) => toInfo(await service.terminate(request.params.id)),
    );
  };
}
