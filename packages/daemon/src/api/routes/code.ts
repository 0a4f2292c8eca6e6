import type { FastifyPluginAsync } from "fastify";
import {
  CodeContextListSchema,
  CodeContextParamsSchema,
  CodeContextSchema,
  CodeRunRequestSchema,
  CreateCodeContextRequestSchema,
} from "@paddock/protocol";
import { CODE_RUN_EVENTS } from "../../agent/event-lines.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";
import { agentQuery as q, registerAgentRoutes, type AgentRoute } from "./agent-route.js";

const CODE = "/v1/sandboxes/:id/code";
const context = (params: Record<string, string>) => q({ id: params.context });

/**
 * Code contexts (interpreters that keep their state between runs): validated here, then
 * forwarded to the sandbox's agent. A run's answer is NDJSON CodeRunEvents, checked event by
 * event like a process's.
 */
const routes: AgentRoute[] = [
  {
    method: "POST",
    url: `${CODE}/contexts`,
    summary: "Start a code context: a python or node interpreter that keeps its state between runs",
    body: CreateCodeContextRequestSchema,
    response: CodeContextSchema,
    status: 201,
    agentPath: () => "/code/contexts",
  },
  {
    method: "GET",
    url: `${CODE}/contexts`,
    summary: "List the sandbox's code contexts",
    response: CodeContextListSchema,
    agentPath: () => "/code/contexts",
  },
  {
    method: "GET",
    url: `${CODE}/contexts/:context`,
    summary: "Get a code context",
    params: CodeContextParamsSchema,
    response: CodeContextSchema,
    agentPath: (params) => `/code/contexts/get?${context(params)}`,
  },
  {
    method: "POST",
    url: `${CODE}/contexts/:context/restart`,
    summary: "Restart a code context: a fresh interpreter under the same id, its state gone",
    params: CodeContextParamsSchema,
    response: CodeContextSchema,
    agentPath: (params) => `/code/contexts/restart?${context(params)}`,
  },
  {
    method: "DELETE",
    url: `${CODE}/contexts/:context`,
    summary: "Close a code context: its interpreter is killed",
    params: CodeContextParamsSchema,
    response: CodeContextSchema,
    agentPath: (params) => `/code/contexts?${context(params)}`,
  },
  {
    method: "POST",
    url: `${CODE}/run`,
    summary:
      "Run code in a context (or the language's default context). The answer is NDJSON: stdout and stderr events (data base64) as the code prints, then one result event ({value, error, timedOut}), or an error event if the context failed meanwhile. Runs in one context wait for each other; a client that disconnects interrupts its run.",
    body: CodeRunRequestSchema,
    stream: CODE_RUN_EVENTS,
    agentPath: () => "/code/run",
  },
];

export function codeRoutes(service: SandboxService): FastifyPluginAsync {
  return async (app) => registerAgentRoutes(app, service, routes);
}
