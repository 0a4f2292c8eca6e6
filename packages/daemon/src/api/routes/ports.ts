import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import {
  ErrorBodySchema,
  ExposedPortListSchema,
  ExposedPortSchema,
  ExposePortRequestSchema,
  PortParamsSchema,
  PortWaitAnswerSchema,
  SandboxIdParamsSchema,
} from "@paddock/protocol";
import type { PortService } from "../../ports/port-service.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";
import { agentQuery, registerAgentRoutes } from "./agent-route.js";

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

export function portRoutes(ports: PortService, sandboxes: SandboxService): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    app.post(
      "/v1/sandboxes/:id/ports",
      {
        schema: {
          summary:
            "Expose a port of the sandbox's loopback on a host port (a TCP tunnel through the agent)",
          params: SandboxIdParamsSchema,
          body: ExposePortRequestSchema,
          response: { 201: ExposedPortSchema, ...errors },
        },
      },
      async (request, reply) => {
        const { port, ...options } = request.body;
        return reply
          .status(201)
          .send(await ports.expose(request.params.id, port, options, request.keyRevoked));
      },
    );
    app.get(
      "/v1/sandboxes/:id/ports",
      {
        schema: {
          summary: "List exposed ports",
          params: SandboxIdParamsSchema,
          response: { 200: ExposedPortListSchema, ...errors },
        },
      },
      async (request) => ({ ports: ports.list(request.params.id) }),
    );
    app.delete(
      "/v1/sandboxes/:id/ports/:port",
      {
        schema: {
          summary: "Stop exposing a port: new connections are refused",
          params: PortParamsSchema,
          response: { 204: z.null(), ...errors },
        },
      },
      async (request, reply) => {
        await ports.unexpose(request.params.id, request.params.port);
        return reply.status(204).send(null);
      },
    );
    registerAgentRoutes(plain, sandboxes, [
      {
        method: "GET",
        url: "/v1/sandboxes/:id/ports/:port/wait",
        summary:
          "Answer once something accepts connections on the port inside the sandbox (504 after timeoutMs)",
        params: PortParamsSchema as unknown as z.ZodType<{ id: string } & Record<string, string>>,
        querystring: z.strictObject({
          timeoutMs: z.coerce.number().int().min(1).max(600_000).default(30_000),
        }),
        response: PortWaitAnswerSchema,
        // The agent answers once the port accepts, or after timeoutMs.
        extraTimeMs: (query) => Number(query.timeoutMs),
        agentPath: (params, query) =>
          `/ports/wait?${agentQuery({ port: params.port, timeoutMs: query.timeoutMs })}`,
      },
    ]);
  };
}
