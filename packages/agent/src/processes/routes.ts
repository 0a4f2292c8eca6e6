import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { ExecRequestSchema, KillRequestSchema, PROCESS_STREAM_UPGRADE } from "@paddock/protocol";
import { pipeBody, queryParam, readJson } from "../http-body.js";
import { AgentError, sendJson, type Router } from "../router.js";
import type { ManagedProcess } from "./managed-process.js";
import type { ProcessTable } from "./process-table.js";
import { processStreamHandler } from "./process-stream.js";

/** How long a stdin write that found no reader waits for the process's exit to report it. */
const EXIT_AFTER_EPIPE_MS = 3000;

const NDJSON = { "content-type": "application/x-ndjson", "cache-control": "no-store" };

/** Streams a process's events to a response; returns a function that stops it. */
function streamEvents(proc: ManagedProcess, res: ServerResponse): () => void {
  res.writeHead(200, NDJSON);
  // Each line reaches the client as soon as it is written.
  res.socket?.setNoDelay(true);
  return proc.attach(res);
}

/**
 * The process routes. A foreground process dies with the request that started it (its client
 * went away, so nobody can see its output or stop it); a background one lives on until it
 * exits, is killed, or the sandbox ends.
 */
export function registerProcessRoutes(router: Router, table: ProcessTable): void {
  router.on("POST", "/processes", async (req, res) => {
    const spec = await readJson(req, ExecRequestSchema);
    const proc = await table.start(spec);
    if (spec.background) return sendJson(res, 201, proc.info());
    const detach = streamEvents(proc, res);
    res.on("close", () => {
      detach();
      if (proc.running) proc.kill("SIGKILL");
    });
  });

  router.on("GET", "/processes", (_req, res) => {
    sendJson(res, 200, { processes: table.list().map((p) => p.info()) });
  });

  router.on("GET", "/processes/get", (_req, res, url) => {
    sendJson(res, 200, table.get(queryParam(url, "ref")).info());
  });

  router.on("GET", "/processes/events", (_req, res, url) => {
    const proc = table.get(queryParam(url, "ref"));
    const detach = streamEvents(proc, res);
    res.on("close", detach);
  });

  router.on("POST", "/processes/kill", async (req, res, url) => {
    const proc = table.get(queryParam(url, "ref"));
    const { signal } = await readJson(req, KillRequestSchema);
    proc.kill(signal);
    sendJson(res, 200, proc.info());
  });

  router.on("POST", "/processes/stdin", async (req: IncomingMessage, res, url) => {
    const proc = table.get(queryParam(url, "ref"));
    const stdin = proc.stdin;
    if (!stdin)
      throw new AgentError(
        "conflict",
        "this process was started without stdin: pass stdin: true to exec",
      );
    if (!proc.running) throw new AgentError("conflict", "the process has exited");
    const close = url.searchParams.get("close") === "true";
    // A process that exits mid-body has taken what it wanted: the rest of the body is not
    // written (the router discards it) and the answer is its info, with the exit. A broken
    // pipe usually means that exit, known once its output is drained: wait for it a while.
    const exited = proc.done.then(() => false);
    const piped = pipeBody(req, stdin, { end: close }).then(
      () => true,
      async (err: NodeJS.ErrnoException) => {
        if (proc.running && err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") throw err;
        await Promise.race([exited, delay(EXIT_AFTER_EPIPE_MS)]);
        return true;
      },
    );
    if (!(await Promise.race([piped, exited]))) req.unpipe(stdin);
    sendJson(res, 200, proc.info());
  });

  router.onUpgrade(PROCESS_STREAM_UPGRADE, processStreamHandler(table));
}
