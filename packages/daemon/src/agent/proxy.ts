import http from "node:http";
import { Readable, type Writable } from "node:stream";
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
    let answered = false;

    reply.raw.on("close", () => {
      if (!reply.raw.writableFinished) upstream.destroy();
    });
    upstream.on("response", (res) => {
      answered = true;
      // An answer before the whole body (a refusal): the agent's connection cannot be reused.
      const early = req.body instanceof Readable && dropRest(req.body, upstream);
      passOn(res, reply).finally(() => {
        if (early) upstream.destroy();
        resolve();
      });
    });
    upstream.on("error", (err) => {
      if (answered) return;
      reject(agentUnavailable(err));
    });

    if (req.body instanceof Readable) {
      sendBody(req.body, upstream);
    } else {
      upstream.end(req.body);
    }
  });
}

export function agentUnavailable(err: unknown): PaddockError {
  return new PaddockError(
    "agent_unavailable",
    `the sandbox's agent is not answering: ${errorMessage(err)}`,
    undefined,
    { cause: err },
  );
}

/** Streams the agent's answer to the client byte for byte; settles when it is through. */
export function passOn(res: http.IncomingMessage, reply: FastifyReply): Promise<void> {
  void reply.hijack();
  const downstream = reply.raw;
  const out: http.OutgoingHttpHeaders = {
    "content-type": res.headers["content-type"] ?? "application/json",
    "cache-control": "no-store",
  };
  if (res.headers["content-length"]) out["content-length"] = res.headers["content-length"];
  downstream.writeHead(res.statusCode ?? 502, out);
  downstream.socket?.setNoDelay(true);
  return pipeline(res, downstream).catch(() => {
    // The sandbox or the client went away mid-stream: end the other side too.
    res.destroy();
    downstream.destroy();
  });
}

/**
 * Streams a client's request body to the agent. If the agent stops taking it (it answered
 * early, a refusal, and closed), the rest is dropped (see dropRest); a client that goes away
 * mid-body cuts the agent's side off too.
 */
export function sendBody(body: Readable, to: Writable, { end = true } = {}): void {
  if (body.destroyed && !body.readableEnded) {
    // The client left before there was anywhere to send it.
    to.destroy();
    return;
  }
  body.pipe(to, { end });
  to.once("error", () => dropRest(body, to));
  to.once("close", () => dropRest(body, to));
  body.once("error", () => to.destroy());
  body.once("close", () => {
    if (!body.readableEnded) to.destroy();
  });
}

/**
 * Reads and drops what is left of a client's body once nothing takes it (the answer came
 * early): the client can finish sending and read the answer on a connection that stays
 * usable. Left paused, the body would hold Node's parser on this connection forever; destroyed,
 * it would reset the connection under a client still sending. Returns whether any was left.
 */
export function dropRest(body: Readable, from?: Writable): boolean {
  if (body.readableEnded) return false;
  if (from) body.unpipe(from);
  body.resume();
  return true;
}
