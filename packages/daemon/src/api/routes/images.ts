import { PassThrough, type Readable } from "node:stream";
import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import {
  BUILTIN_IMAGES,
  ErrorBodySchema,
  ImageListSchema,
  ImageNameParamsSchema,
  ImageSchema,
  PullImageRequestSchema,
  type ImageInfo,
  type ImageProgress,
} from "@paddock/protocol";
import { PaddockError, errorMessage } from "../../errors.js";
import { importImage } from "../../images/archive-import.js";
import type { ImageService } from "../../images/image-service.js";
import { errorViewer, toErrorBody } from "../error-handler.js";

/** Content types whose bodies routes receive as a raw stream. */
export const RAW_BODY_TYPES = ["application/x-tar", "application/gzip", "application/octet-stream"];

/** `hostDirs`: the daemon's directories, kept out of errors an API key reads (see toErrorBody). */
export function imageRoutes(
  images: ImageService,
  hostDirs: readonly string[] = [],
): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/v1/images",
      { schema: { summary: "List images", response: { 200: ImageListSchema } } },
      async () => ({
        images: await images.list(),
      }),
    );

    app.get(
      "/v1/images/:name",
      {
        schema: {
          summary: "Get an image",
          params: ImageNameParamsSchema,
          response: { 200: ImageSchema, "4xx": ErrorBodySchema },
        },
      },
      (request) => images.describe(request.params.name),
    );

    app.post(
      "/v1/images/:name/build",
      {
        schema: {
          summary: "Build a built-in image if it is not built yet; streams NDJSON progress lines",
          params: ImageNameParamsSchema,
        },
      },
      async (request, reply) => {
        const { name } = request.params;
        if (!(BUILTIN_IMAGES as readonly string[]).includes(name)) {
          throw new PaddockError(
            "invalid_request",
            `"${name}" is not a built-in image (${BUILTIN_IMAGES.join(", ")})`,
          );
        }
        return reply.type("application/x-ndjson").send(
          progressStream(request, hostDirs, async (emit) => {
            await images.local.require(name, (message) => emit({ type: "progress", message }));
            return images.describe(name);
          }),
        );
      },
    );

    app.post(
      "/v1/images/pull",
      {
        schema: {
          summary:
            "Pull an image from a registry (linux/amd64 unless a platform is named); streams NDJSON progress lines, then done or error. The pull goes on if the client leaves",
          body: PullImageRequestSchema,
        },
      },
      async (request, reply) => {
        const { reference, platform } = request.body;
        return reply.type("application/x-ndjson").send(
          progressStream(request, hostDirs, (emit) =>
            images.pull(reference, {
              platform,
              progress: (p) => emit({ type: "progress", ...p }),
            }),
          ),
        );
      },
    );

    app.put(
      "/v1/images/:name",
      {
        config: { adminOnly: true },
        schema: {
          summary:
            "Import an image from a tar (plain or gzip) in the request body: a root filesystem (stored as a local image NAME), a `docker save` archive or an OCI image layout (stored by manifest digest under the reference NAME, its config honoured; of several images the one saved under NAME, else the linux/amd64 one)",
          params: ImageNameParamsSchema,
          body: z.any(),
          response: { 201: ImageSchema, "4xx": ErrorBodySchema },
        },
      },
      async (request, reply) => {
        const body = request.body as Readable | undefined;
        if (!body || typeof (body as Readable).pipe !== "function") {
          throw new PaddockError(
            "invalid_request",
            `send the rootfs, docker save archive or OCI layout as a tar with content-type ${RAW_BODY_TYPES.join(" or ")}`,
          );
        }
        return reply.status(201).send(await importImage(images, request.params.name, body));
      },
    );

    app.delete(
      "/v1/images/:name",
      {
        config: { adminOnly: true },
        schema: {
          summary:
            "Remove a stored image. A pulled image's reference goes at once and its files when no sandbox uses it any more; a built-in or imported image is refused (409 image_in_use) while any sandbox uses it, and a removed built-in image is built again on next use",
          params: ImageNameParamsSchema,
          response: { 204: z.null(), "4xx": ErrorBodySchema },
        },
      },
      async (request, reply) => {
        await images.remove(request.params.name);
        return reply.status(204).send(null);
      },
    );
  };
}

/**
 * An NDJSON stream of a job's progress lines, then `done` with its image or `error`. The job runs
 * in the daemon whoever reads it; its errors are shown as the error handler would show them.
 */
export function progressStream(
  request: FastifyRequest,
  hostDirs: readonly string[],
  job: (emit: (line: ImageProgress) => void) => Promise<ImageInfo>,
): PassThrough {
  const out = new PassThrough();
  const emit = (line: ImageProgress) => {
    if (!out.writableEnded) out.write(`${JSON.stringify(line)}\n`);
  };
  void job(emit)
    .then((image) => emit({ type: "done", image }))
    .catch((err: unknown) => {
      const { body } = toErrorBody(err, errorViewer(request, hostDirs));
      emit({
        type: "error",
        error: { code: body.error.code, message: body.error.message || errorMessage(err) },
      });
    })
    .finally(() => out.end());
  return out;
}
