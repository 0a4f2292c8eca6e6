import type { Readable } from "node:stream";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import {
  BatchResultsSchema,
  ChmodRequestSchema,
  DeleteFileQuerySchema,
  ErrorBodySchema,
  FileEntrySchema,
  FileListSchema,
  FindRequestSchema,
  FindResultSchema,
  MkdirQuerySchema,
  PathQuerySchema,
  RenameRequestSchema,
  ReplaceRequestSchema,
  ReplaceResultSchema,
  SandboxIdParamsSchema,
  WriteFileQuerySchema,
} from "@paddock/protocol";
import { proxyToAgent, type ProxyRequest } from "../../agent/proxy.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";

const errors = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema };
const params = SandboxIdParamsSchema;

/** The agent's query string from validated values (modes go as octal text). */
function query(values: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    search.set(
      key,
      key === "mode" && typeof value === "number" ? value.toString(8) : String(value),
    );
  }
  return search.toString();
}

const json = (body: unknown): Pick<ProxyRequest, "body" | "contentType"> => ({
  body: JSON.stringify(body),
  contentType: "application/json",
});

/**
 * File routes: validated here, carried out by the agent inside the sandbox. Uploads and
 * downloads stream straight through; the daemon never writes or reads a sandbox's files itself.
 */
export function fileRoutes(service: SandboxService): FastifyPluginAsyncZod {
  return async (app) => {
    const agent = (id: string) => service.agent(id);

    app.put(
      "/v1/sandboxes/:id/files",
      {
        schema: {
          summary:
            "Upload a file (the raw body, streamed); written beside the target and renamed into place",
          params,
          querystring: WriteFileQuerySchema,
          body: z.any(),
          response: { 200: FileEntrySchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "PUT",
          path: `/files/write?${query(request.query)}`,
          body: (request.body as Readable | undefined) ?? "",
          contentType: "application/octet-stream",
        }),
    );

    app.get(
      "/v1/sandboxes/:id/files",
      {
        schema: {
          summary: "Download a regular file (streamed)",
          params,
          querystring: PathQuerySchema,
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "GET",
          path: `/files/read?${query(request.query)}`,
        }),
    );

    app.delete(
      "/v1/sandboxes/:id/files",
      {
        schema: {
          summary: "Delete a file, or a directory (recursive=true for a non-empty one)",
          params,
          querystring: DeleteFileQuerySchema,
          response: { 200: z.object({ deleted: z.string() }), ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "DELETE",
          path: `/files?${query(request.query)}`,
        }),
    );

    app.get(
      "/v1/sandboxes/:id/files/stat",
      {
        schema: {
          summary: "Describe a path (a final symlink is not followed)",
          params,
          querystring: PathQuerySchema,
          response: { 200: FileEntrySchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "GET",
          path: `/files/stat?${query(request.query)}`,
        }),
    );

    app.get(
      "/v1/sandboxes/:id/files/list",
      {
        schema: {
          summary: "List a directory's children",
          params,
          querystring: PathQuerySchema,
          response: { 200: FileListSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "GET",
          path: `/files/list?${query(request.query)}`,
        }),
    );

    app.post(
      "/v1/sandboxes/:id/files/mkdir",
      {
        schema: {
          summary: "Create a directory",
          params,
          querystring: MkdirQuerySchema,
          response: { 200: FileEntrySchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "POST",
          path: `/files/mkdir?${query(request.query)}`,
        }),
    );

    app.post(
      "/v1/sandboxes/:id/files/rename",
      {
        schema: {
          summary: "Rename or move a path",
          params,
          body: RenameRequestSchema,
          response: { 200: FileEntrySchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "POST",
          path: "/files/rename",
          ...json(request.body),
        }),
    );

    app.post(
      "/v1/sandboxes/:id/files/chmod",
      {
        schema: {
          summary: "Change permission bits",
          params,
          body: ChmodRequestSchema,
          response: { 200: FileEntrySchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "POST",
          path: "/files/chmod",
          ...json(request.body),
        }),
    );

    app.put(
      "/v1/sandboxes/:id/files/archive",
      {
        schema: {
          summary:
            "Upload many files at once: a tar stream unpacked under path, each file atomic, a result per entry",
          params,
          querystring: PathQuerySchema,
          body: z.any(),
          response: { 200: BatchResultsSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "PUT",
          path: `/files/archive?${query(request.query)}`,
          body: (request.body as Readable | undefined) ?? "",
          contentType: "application/x-tar",
        }),
    );

    app.get(
      "/v1/sandboxes/:id/files/archive",
      {
        schema: {
          summary: "Download a directory as a tar stream",
          params,
          querystring: PathQuerySchema,
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "GET",
          path: `/files/archive?${query(request.query)}`,
        }),
    );

    app.post(
      "/v1/sandboxes/:id/files/find",
      {
        schema: {
          summary: "Find lines matching a regular expression",
          params,
          body: FindRequestSchema,
          response: { 200: FindResultSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "POST",
          path: "/files/find",
          ...json(request.body),
        }),
    );

    app.post(
      "/v1/sandboxes/:id/files/replace",
      {
        schema: {
          summary: "Replace a regular expression in files; returns the files changed",
          params,
          body: ReplaceRequestSchema,
          response: { 200: ReplaceResultSchema, ...errors },
        },
      },
      (request, reply) =>
        proxyToAgent(agent(request.params.id), reply, {
          method: "POST",
          path: "/files/replace",
          ...json(request.body),
        }),
    );
  };
}
