import {
  AGENT_NODE_ARGV,
  CODE_LIMITS,
  CodeContextIdSchema,
  CodeRunRequestSchema,
  CreateCodeContextRequestSchema,
  type CodeRunEvent,
} from "@paddock/protocol";
import { queryParam, readJson } from "../http-body.js";
import type { ProcessTable } from "../processes/process-table.js";
import { AgentError, sendJson, type Router } from "../router.js";
import type { CodeContext } from "./code-context.js";
import { CodeContexts } from "./contexts.js";

const NDJSON = { "content-type": "application/x-ndjson", "cache-control": "no-store" };

function contextParam(url: URL): string {
  const id = queryParam(url, "id");
  if (!CodeContextIdSchema.safeParse(id).success)
    throw new AgentError("invalid_request", `"${id}" is not a code context id`);
  return id;
}

/**
 * Code contexts: interpreters that keep their state between runs (see code-context.ts). A run
 * answers an NDJSON stream of CodeRunEvents once its context is known to be alive; a run whose
 * client goes away is interrupted, and its context lives on.
 */
export function registerCodeRoutes(router: Router, table: ProcessTable): void {
  const contexts = new CodeContexts({ table, nodeArgv: AGENT_NODE_ARGV });

  router.on("POST", "/code/contexts", async (req, res) => {
    const spec = await readJson(req, CreateCodeContextRequestSchema);
    sendJson(res, 201, (await contexts.create(spec)).info());
  });

  router.on("GET", "/code/contexts", (_req, res) => {
    sendJson(res, 200, { contexts: contexts.list().map((c) => c.info()) });
  });

  router.on("GET", "/code/contexts/get", (_req, res, url) => {
    sendJson(res, 200, contexts.get(contextParam(url)).info());
  });

  router.on("POST", "/code/contexts/restart", async (_req, res, url) => {
    const context = contexts.get(contextParam(url));
    await context.restart();
    sendJson(res, 200, context.info());
  });

  router.on("DELETE", "/code/contexts", async (_req, res, url) => {
    sendJson(res, 200, (await contexts.close(contextParam(url))).info());
  });

  router.on("POST", "/code/run", async (req, res) => {
    // The code's characters, JSON-escaped (at most 6 bytes each), and room for the rest.
    const run = await readJson(req, CodeRunRequestSchema, 6 * CODE_LIMITS.codeLength + 4096);
    const context: CodeContext =
      run.context !== undefined
        ? contexts.get(run.context)
        : await contexts.default(run.language ?? "python");
    if (run.language !== undefined && run.language !== context.spec.language)
      throw new AgentError(
        "invalid_request",
        `context ${context.id} runs ${context.spec.language}, not ${run.language}`,
      );
    context.checkAlive();
    const gone = new AbortController();
    res.once("close", () => gone.abort());
    res.writeHead(200, NDJSON);
    // Each event reaches the client as soon as it is written.
    res.socket?.setNoDelay(true);
    const sink = {
      send: (event: CodeRunEvent) => res.write(`${JSON.stringify(event)}\n`),
      onDrain: (listener: () => void) => {
        res.once("drain", listener);
        res.once("close", listener);
      },
    };
    sink.send({ type: "start", context: context.id });
    await context.run(run.code, sink, { timeoutMs: run.timeoutMs, signal: gone.signal });
    res.end();
  });
}
