import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { ErrorBodySchema, SetWarmPoolsRequestSchema, WarmPoolListSchema } from "@paddock/protocol";
import type { WarmPools } from "../../sandboxes/warm-pool.js";

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

/** Warm pools; only the admin token sees or sets them (their sandboxes belong to nobody). */
export function warmPoolRoutes(pools: Pick<WarmPools, "list" | "set">): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const config = { adminOnly: true };
    app.get(
      "/v1/warm-pools",
      {
        config,
        schema: {
          summary:
            "List the warm pools: each profile, its size, and how many are ready and filling",
          response: { 200: WarmPoolListSchema, ...errors },
        },
      },
      async () => ({ pools: pools.list() }),
    );
    app.put(
      "/v1/warm-pools",
      {
        config,
        schema: {
          summary:
            "Replace the warm pools: kept profiles keep their sandboxes, dropped ones are torn down, new ones fill in the background",
          body: SetWarmPoolsRequestSchema,
          response: { 200: WarmPoolListSchema, ...errors },
        },
      },
      async (request) => ({ pools: pools.set(request.body.pools) }),
    );
  };
}
