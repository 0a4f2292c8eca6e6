import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import {
  ExecRequestSchema,
  KillRequestSchema,
  ProcessInfoSchema,
  ProcessListSchema,
  ProcessRefParamsSchema,
} from "@paddock/protocol";
import { PROCESS_EVENTS } from "../../agent/event-lines.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";
import { agentQuery as q, registerAgentRoutes, type AgentRoute } from "./agent-route.js";

const PROCESSES = "/v1/sandboxes/:id/processes";
const ref = (params: Record<string, string>) => q({ ref: params.ref });

/** Process routes: validated here, then forwarded to the sandbox's agent as a byte stream. */
const routes: AgentRoute[] = [
  {
    method: "POST",
    url: PROCESSES,
    summary:
      "Start a process. Foreground: the answer is an NDJSON event stream (start, stdout, stderr, exit; data base64) and the process is killed if the client disconnects. Background: 201 with the process, which outlives the request.",
    body: ExecRequestSchema,
    response: ProcessInfoSchema,
    status: 201,
    stream: PROCESS_EVENTS,
    agentPath: () => "/processes",
  },
  {
    method: "GET",
    url: PROCESSES,
    summary: "List processes started through Paddock",
    response: ProcessListSchema,
    agentPath: () => "/processes",
  },
  {
    method: "GET",
    url: `${PROCESSES}/:ref`,
    summary: "Get a process by pid or tag",
    params: ProcessRefParamsSchema,
    response: ProcessInfoSchema,
    agentPath: (params) => `/processes/get?${ref(params)}`,
  },
  {
    method: "GET",
    url: `${PROCESSES}/:ref/events`,
    summary:
      "Attach to a process: its kept history since start, then live events until exit (NDJSON)",
    params: ProcessRefParamsSchema,
    stream: PROCESS_EVENTS,
    agentPath: (params) => `/processes/events?${ref(params)}`,
  },
  {
    method: "POST",
    url: `${PROCESSES}/:ref/kill`,
    summary: "Send a signal (default SIGKILL) to the process's whole group",
    params: ProcessRefParamsSchema,
    body: KillRequestSchema.optional().default({ signal: "SIGKILL" }),
    response: ProcessInfoSchema,
    agentPath: (params) => `/processes/kill?${ref(params)}`,
  },
  {
    method: "POST",
    url: `${PROCESSES}/:ref/stdin`,
    summary: "Write the body (streamed) to the process's stdin; close=true closes stdin after it",
    params: ProcessRefParamsSchema,
    querystring: z.strictObject({ close: z.enum(["true", "false"]).default("false") }),
    body: "raw",
    response: ProcessInfoSchema,
    agentPath: (params, query) => `/processes/stdin?${q({ ref: params.ref, close: query.close })}`,
  },
];

export function processRoutes(service: SandboxService): FastifyPluginAsync {
  return async (app) => registerAgentRoutes(app, service, routes);
}
