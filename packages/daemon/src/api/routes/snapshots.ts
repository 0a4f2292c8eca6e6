import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import {
  CreateSnapshotRequestSchema,
  ErrorBodySchema,
  SandboxIdParamsSchema,
  SnapshotListSchema,
  SnapshotParamsSchema,
  SnapshotSchema,
} from "@paddock/protocol";
import type { SnapshotService } from "../../snapshots/snapshot-service.js";

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };

/** Snapshots of sandboxes; a key sees its own only (see SnapshotService). */
export function snapshotRoutes(snapshots: SnapshotService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      "/v1/sandboxes/:id/snapshots",
      {
        schema: {
          summary:
            "Snapshot a running sandbox, which keeps running: under runsc (without a network) its memory, processes and files; under runc its files",
          params: SandboxIdParamsSchema,
          body: CreateSnapshotRequestSchema,
          response: { 201: SnapshotSchema, ...errors },
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(await snapshots.take(request.params.id, request.body.name, request.principal)),
    );

    app.get(
      "/v1/snapshots",
      { schema: { summary: "List snapshots", response: { 200: SnapshotListSchema } } },
      async (request) => ({ snapshots: snapshots.list(request.principal) }),
    );

    app.get(
      "/v1/snapshots/:snapshot",
      {
        schema: {
          summary: "Get a snapshot by id or name",
          params: SnapshotParamsSchema,
          response: { 200: SnapshotSchema, ...errors },
        },
      },
      async (request) => snapshots.get(request.params.snapshot, request.principal),
    );

    app.delete(
      "/v1/snapshots/:snapshot",
      {
        schema: {
          summary: "Delete a snapshot (sandboxes started from it keep running)",
          params: SnapshotParamsSchema,
          response: { 200: SnapshotSchema, ...errors },
        },
      },
      async (request) => snapshots.delete(request.params.snapshot, request.principal),
    );
  };
}
