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
import type { PortService } from "../../ports/port-service.js";
import type { KeyStore } from "../../state/key-store.js";
import type { OpenRequestsByKey } from "../open-requests-by-key.js";

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

/** API keys; only the admin token manages them. */
export function keyRoutes(
  keys: KeyStore,
  revoked: { requests: OpenRequestsByKey; ports: PortService },
): FastifyPluginAsync {
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
          summary:
            "Revoke an API key: it gets 401 at once, its open requests and streams are cut, and the exposed ports of its sandboxes are closed",
          params: KeyParamsSchema,
          response: { 200: KeySchema, ...errors },
        },
      },
      async (request) => {
        const { name } = request.params;
        const info = keys.revoke(name);
        revoked.requests.abort(name);
        await revoked.ports.releaseOwnedBy(name);
        return info;
      },
    );
  };
}
