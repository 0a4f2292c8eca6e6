import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import {
  ErrorBodySchema,
  RegistryHostParamsSchema,
  RegistryListSchema,
  RegistryLoginRequestSchema,
} from "@paddock/protocol";
import type { Registries } from "../../images/registries.js";

/** Registry credentials: stored by the admin, used by pulls, never sent back. */
export function registryRoutes(registries: Registries): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/v1/registries",
      {
        schema: {
          summary:
            "List registries with stored credentials or allowed over plain HTTP (hosts only)",
          response: { 200: RegistryListSchema },
        },
      },
      async () => ({ registries: await registries.list() }),
    );

    app.post(
      "/v1/registries/login",
      {
        config: { adminOnly: true },
        schema: {
          summary:
            "Check credentials against a registry and store them for pulls (403 registry_auth_failed if it refuses them)",
          body: RegistryLoginRequestSchema,
          response: { 204: z.null(), "4xx": ErrorBodySchema, "5xx": ErrorBodySchema },
        },
      },
      async (request, reply) => {
        const { host, username, password } = request.body;
        await registries.login(host, username, password);
        return reply.status(204).send(null);
      },
    );

    app.delete(
      "/v1/registries/:host",
      {
        config: { adminOnly: true },
        schema: {
          summary: "Forget a registry's stored credentials",
          params: RegistryHostParamsSchema,
          response: { 204: z.null(), "4xx": ErrorBodySchema },
        },
      },
      async (request, reply) => {
        await registries.logout(request.params.host);
        return reply.status(204).send(null);
      },
    );
  };
}
