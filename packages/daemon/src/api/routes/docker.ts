import type { Readable } from "node:stream";
import type { FastifyPluginAsync } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import {
  CommandOutputSchema,
  ComposeLogsRequestSchema,
  ComposeResultSchema,
  ComposeTargetSchema,
  ComposeUpRequestSchema,
  DockerLoadQuerySchema,
  DockerLoadRefQuerySchema,
  DockerLoadRefResultSchema,
  DockerRunRequestSchema,
  ErrorBodySchema,
  SandboxIdParamsSchema,
} from "@paddock/protocol";
import type { DockerService } from "../../docker/docker-service.js";
import { PaddockError } from "../../errors.js";

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };
const params = SandboxIdParamsSchema;
const output = { 200: CommandOutputSchema, ...errors };

/** Docker and Compose in a sandbox created with docker: true. */
export function dockerRoutes(docker: DockerService): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    const base = "/v1/sandboxes/:id/docker";

    app.post(
      `${base}/compose/up`,
      {
        schema: {
          summary:
            "docker compose up; under runsc (or with hostNetwork) with an override giving every service host networking",
          params,
          body: ComposeUpRequestSchema,
          response: { 200: ComposeResultSchema, ...errors },
        },
      },
      (request) => docker.composeUp(request.params.id, request.body),
    );
    app.post(
      `${base}/compose/down`,
      {
        schema: {
          summary: "docker compose down",
          params,
          body: ComposeTargetSchema,
          response: output,
        },
      },
      (request) => docker.composeDown(request.params.id, request.body),
    );
    app.post(
      `${base}/compose/ps`,
      {
        schema: {
          summary: "docker compose ps (JSON lines)",
          params,
          body: ComposeTargetSchema,
          response: output,
        },
      },
      (request) => docker.composePs(request.params.id, request.body),
    );
    app.post(
      `${base}/compose/logs`,
      {
        schema: {
          summary: "docker compose logs",
          params,
          body: ComposeLogsRequestSchema,
          response: output,
        },
      },
      (request) => docker.composeLogs(request.params.id, request.body),
    );
    app.get(
      `${base}/ps`,
      { schema: { summary: "docker ps --all (JSON lines)", params, response: output } },
      (request) => docker.docker(request.params.id, ["ps", "--all", "--format", "json"]),
    );
    app.get(
      `${base}/images`,
      { schema: { summary: "docker images (JSON lines)", params, response: output } },
      (request) => docker.docker(request.params.id, ["images", "--format", "json"]),
    );
    app.post(
      `${base}/run`,
      {
        schema: {
          summary: "docker run --rm",
          params,
          body: DockerRunRequestSchema,
          response: output,
        },
      },
      (request) => docker.run(request.params.id, request.body),
    );
    app.put(
      `${base}/load`,
      {
        schema: {
          summary:
            "Stream an image archive (docker save) into docker load, or a rootfs tarball into docker import with importAs",
          params,
          querystring: DockerLoadQuerySchema,
          body: z.any(),
          response: output,
        },
      },
      (request) => {
        const body = request.body as Readable | undefined;
        if (!body || typeof body.pipe !== "function") {
          throw new PaddockError(
            "invalid_request",
            "send the archive as the body with content-type application/x-tar",
          );
        }
        return docker.load(request.params.id, body, request.query.importAs);
      },
    );
    app.post(
      `${base}/load`,
      {
        schema: {
          summary:
            "Load a registry image into the sandbox's Docker: the daemon pulls it into its store unless stored (with its registry credentials), and streams it into docker load under the reference asked",
          params,
          querystring: DockerLoadRefQuerySchema,
          response: { 200: DockerLoadRefResultSchema, ...errors },
        },
      },
      (request) => docker.loadRef(request.params.id, request.query.ref),
    );
  };
}
