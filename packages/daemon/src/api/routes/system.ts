import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { HealthSchema, PROTOCOL_VERSION } from "@paddock/protocol";

export const systemRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    "/health",
    { schema: { summary: "Liveness; needs no token", response: { 200: HealthSchema } } },
    async () => ({
      status: "ok" as const,
      version: PROTOCOL_VERSION,
    }),
  );
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
};
