import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import {
  BatchResultsSchema,
  ChmodRequestSchema,
  DeleteFileQuerySchema,
  DownloadQuerySchema,
  FileEntrySchema,
  FileListSchema,
  FindRequestSchema,
  FindResultSchema,
  MkdirQuerySchema,
  PathQuerySchema,
  RenameRequestSchema,
  ReplaceRequestSchema,
  ReplaceResultSchema,
  WriteFileQuerySchema,
} from "@paddock/protocol";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";
import {
  agentQuery as q,
  longOperation,
  registerAgentRoutes,
  type AgentRoute,
} from "./agent-route.js";

export const FILES = "/v1/sandboxes/:id/files";

/**
 * File routes: validated here, carried out by the agent inside the sandbox. Uploads and
 * downloads stream straight through; the daemon never reads or writes a sandbox's files itself.
 */
const routes: AgentRoute[] = [
  {
    method: "PUT",
    url: FILES,
    summary:
      "Upload a file (the raw body, streamed); written beside the target and renamed into place",
    querystring: WriteFileQuerySchema,
    body: "raw",
    bulkUpload: true,
    response: FileEntrySchema,
    agentPath: (_p, query) => `/files/write?${q(query)}`,
  },
  {
    method: "GET",
    url: FILES,
    summary:
      "Download a regular file (streamed); with a download ticket in place of a token, as an attachment",
    querystring: DownloadQuerySchema,
    stream: "bytes",
    agentPath: (_p, query) => `/files/read?${q({ path: query.path })}`,
  },
  {
    method: "DELETE",
    url: FILES,
    summary: "Delete a file, or a directory (recursive=true for a non-empty one)",
    querystring: DeleteFileQuerySchema,
    response: z.object({ deleted: z.string() }),
    extraTimeMs: longOperation,
    agentPath: (_p, query) => `/files?${q(query)}`,
  },
  {
    method: "GET",
    url: `${FILES}/stat`,
    summary: "Describe a path (a final symlink is not followed)",
    querystring: PathQuerySchema,
    response: FileEntrySchema,
    agentPath: (_p, query) => `/files/stat?${q(query)}`,
  },
  {
    method: "GET",
    url: `${FILES}/list`,
    summary: "List a directory's children",
    querystring: PathQuerySchema,
    response: FileListSchema,
    agentPath: (_p, query) => `/files/list?${q(query)}`,
  },
  {
    method: "POST",
    url: `${FILES}/mkdir`,
    summary: "Create a directory",
    querystring: MkdirQuerySchema,
    response: FileEntrySchema,
    agentPath: (_p, query) => `/files/mkdir?${q(query)}`,
  },
  {
    method: "POST",
    url: `${FILES}/rename`,
    summary: "Rename or move a path",
    body: RenameRequestSchema,
    response: FileEntrySchema,
    agentPath: () => "/files/rename",
  },
  {
    method: "POST",
    url: `${FILES}/chmod`,
    summary: "Change permission bits",
    body: ChmodRequestSchema,
    response: FileEntrySchema,
    agentPath: () => "/files/chmod",
  },
  {
    method: "PUT",
    url: `${FILES}/archive`,
    summary:
      "Upload many files at once: a tar stream unpacked under path, each file atomic, a result per entry",
    querystring: PathQuerySchema,
    body: "raw",
    rawContentType: "application/x-tar",
    response: BatchResultsSchema,
    extraTimeMs: longOperation,
    agentPath: (_p, query) => `/files/archive?${q(query)}`,
  },
  {
    method: "GET",
    url: `${FILES}/archive`,
    summary:
      "Download a directory as a tar stream; with a download ticket in place of a token, as an attachment",
    querystring: DownloadQuerySchema,
    stream: "bytes",
    agentPath: (_p, query) => `/files/archive?${q({ path: query.path })}`,
  },
  {
    method: "POST",
    url: `${FILES}/find`,
    summary: "Find lines matching a regular expression",
    body: FindRequestSchema,
    response: FindResultSchema,
    extraTimeMs: longOperation,
    agentPath: () => "/files/find",
  },
  {
    method: "POST",
    url: `${FILES}/replace`,
    summary: "Replace a regular expression in files; returns the files changed",
    body: ReplaceRequestSchema,
    response: ReplaceResultSchema,
    extraTimeMs: longOperation,
    agentPath: () => "/files/replace",
  },
];

export function fileRoutes(service: SandboxService): FastifyPluginAsync {
  return async (app) => registerAgentRoutes(app, service, routes);
}
