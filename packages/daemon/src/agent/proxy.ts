import http from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyReply } from "fastify";
import { PaddockError, errorMessage } from "../errors.js";
import type { AgentClient } from "./client.js";

export interface ProxyRequest {
  method: string;
  /** The agent's path, with its query; built by the daemon, never taken from the client. */
  path: string;
  body?: Buffer | string | Readable;
  contentType?: string;
}

/**
 * Forwards one request to a sandbox's agent and streams the answer back byte for byte: nothing
 * is buffered or parsed on the way. If the client goes away, the agent's request is cancelled
 * too (which is how a foreground process learns its client left). An agent that cannot be
 * reached before any answer is an `agent_unavailable` error.
 */
export function proxyToAgent(
  client: AgentClient,
  reply: FastifyReply,
  req: ProxyRequest,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = {};
    if (req.contentType) headers["content-type"] = req.contentType;
    if (typeof req.body === "string" || Buffer.isBuffer(req.body))
      headers["content-length"] = Buffer.byteLength(req.body);
    const upstream = http.request({
      socketPath: client.socketPath,
      agent: client.httpAgent,
      method: req.method,
      path: req.path,
      headers,
    });
    const downstream = reply.raw;
    let answered = false;

    downstream.on("close", () => {
      if (!downstream.writableFinished) upstream.destroy();
    });
    upstream.on("response", (res) => {
      answered = true;
      void reply.hijack();
      const out: http.OutgoingHttpHeaders = {
        "content-type": res.headers["content-type"] ?? "application/json",
        "cache-control": "no-store",
      };
      if (res.headers["content-length"]) out["content-length"] = res.headers["content-length"];
      // The agent answered (a refusal, say) before the upload was all read: the rest of it is
      // still on the client's connection, so that connection must not be reused.
      if (req.body instanceof Readable && !req.body.readableEnded) out.connection = "close";
      downstream.writeHead(res.statusCode ?? 502, out);
      downstream.socket?.setNoDelay(true);
      pipeline(res, downstream)
        .catch(() => {
          // The sandbox or the client went away mid-stream: end the other side too.
          upstream.destroy();
          downstream.destroy();
        })
        .finally(resolve);
    });
    upstream.on("error", (err) => {
      if (answered) return;
      reject(
        new PaddockError(
          "agent_unavailable",
          `the sandbox's agent is not answering: ${errorMessage(err)}`,
          undefined,
          { cause: err },
        ),
      );
    });

    if (req.body instanceof Readable) {
      pipeline(req.body, upstream).catch((err: unknown) =>
        upstream.destroy(err instanceof Error ? err : undefined),
      );
    } else {
      upstream.end(req.body);
    }
  });
}
