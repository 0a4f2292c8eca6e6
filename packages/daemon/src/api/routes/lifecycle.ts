import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { ErrorBodySchema, SandboxIdParamsSchema, SandboxSchema } from "@paddock/protocol";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";

/** Pause and resume (see sandboxes/pause.ts). */
export function lifecycleRoutes(service: SandboxService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      "/v1/sandboxes/:id/pause",
      {
        schema: {
          summary:
            "Pause a sandbox: no CPU; under runsc without a network its memory, processes and files go to disk and its memory back to the host, otherwise it is frozen in memory. Its timeout stands still.",
          params: SandboxIdParamsSchema,
          response: { 200: SandboxSchema, "4xx": ErrorBodySchema, "5xx": ErrorBodySchema },
        },
      },
      async (request) => service.pause(request.params.id),
    );

    app.post(
      "/v1/sandboxes/:id/resume",
      {
        schema: {
          summary: "Resume a paused sandbox; returns once its agent answers",
          params: SandboxIdParamsSchema,
          response: { 200: SandboxSchema, "4xx": ErrorBodySchema, "5xx": ErrorBodySchema },
        },
      },
      async (request) => service.resume(request.params.id),
    );
  };
}
