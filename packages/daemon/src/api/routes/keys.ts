import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import {
  CreatedKeySchema,
  CreateKeyRequestSchema,
  ErrorBodySchema,
  KeyListSchema,
  KeyParamsSchema,
  KeySchema,
} from "@paddock/protocol";
import type { KeyStore } from "../../state/key-store.js";

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

/** API keys; only the admin token manages them. */
export function keyRoutes(keys: KeyStore): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const config = { adminOnly: true };
    app.post(
      "/v1/keys",
      {
        config,
        schema: {
          summary: "Create an API key; its secret is shown once",
          body: CreateKeyRequestSchema,
          response: { 201: CreatedKeySchema, ...errors },
        },
      },
      async (request, reply) => reply.status(201).send(keys.create(request.body.name)),
    );
    app.get(
      "/v1/keys",
      { config, schema: { summary: "List API keys", response: { 200: KeyListSchema, ...errors } } },
      async () => ({
        keys: keys.list(),
      }),
    );
    app.delete(
      "/v1/keys/:name",
      {
        config,
        schema: {
          summary: "Revoke an API key: it gets 401 at once",
          params: KeyParamsSchema,
          response: { 200: KeySchema, ...errors },
        },
      },
      async (request) => keys.revoke(request.params.name),
    );
  };
}
