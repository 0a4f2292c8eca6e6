import type { Readable } from "node:stream";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { BuildImageQuerySchema } from "@paddock/protocol";
import type { ImageBuilder } from "../../docker/image-builder.js";
import { PaddockError } from "../../errors.js";
import { RAW_BODY_TYPES, progressStream } from "./images.js";

/** Dockerfile builds: the context in, the build's progress and log out as NDJSON. */
export function imageBuildRoutes(
  builder: ImageBuilder,
  hostDirs: readonly string[] = [],
): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      "/v1/images/build",
      {
        config: { adminOnly: true },
        schema: {
          summary:
            "Build an image from a Dockerfile: the build context is the body (a tar, plain or gzip). Its FROM images are pulled by the daemon; the build runs in a throwaway Docker sandbox without network and its result is stored under `name` like an imported archive. Streams NDJSON progress and log lines, then done or error; the build stops if the client leaves",
          querystring: BuildImageQuerySchema,
          body: z.any(),
        },
      },
      async (request, reply) => {
        const body = request.body as Readable | undefined;
        if (!body || typeof body.pipe !== "function") {
          throw new PaddockError(
            "invalid_request",
            `send the build context as a tar with content-type ${RAW_BODY_TYPES.join(" or ")}`,
          );
        }
        const gone = new AbortController();
        reply.raw.on("close", () => {
          if (!reply.raw.writableFinished) gone.abort();
        });
        return reply
          .type("application/x-ndjson")
          .send(
            progressStream(request, hostDirs, (emit) =>
              builder.build(request.query, body, request.principal, emit, gone.signal),
            ),
          );
      },
    );
  };
}
