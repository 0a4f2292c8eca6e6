import type { IncomingMessage } from "node:http";
import type { Readable, Writable } from "node:stream";
import type { z } from "zod";
import { AgentError } from "./router.js";

/** Reads a small JSON body (at most `limit` bytes) and checks it against `schema`. */
export async function readJson<S extends z.ZodType>(
  req: IncomingMessage,
  schema: S,
  limit = 1024 * 1024,
): Promise<z.output<S>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new AgentError("payload_too_large", `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = size === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new AgentError("invalid_request", "request body is not valid JSON");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    throw new AgentError("invalid_request", `invalid request: ${issues.join("; ")}`);
  }
  return parsed.data;
}

/** A required query parameter. */
export function queryParam(url: URL, name: string): string {
  const value = url.searchParams.get(name);
  if (value === null || value === "")
    throw new AgentError("invalid_request", `missing query parameter ${name}`);
  return value;
}

/** The query string checked against `schema` (each parameter given once). */
export function readQuery<S extends z.ZodType>(url: URL, schema: S): z.output<S> {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`);
    throw new AgentError("invalid_request", `invalid request: ${issues.join("; ")}`);
  }
  return parsed.data;
}

/**
 * Pipes a request body into `sink`. Unlike pipeline, a failure leaves the body stream whole, so
 * the router can read its rest and the connection stays usable. With `end: false` the sink is
 * left open and the promise settles when the body has ended.
 */
export function pipeBody(body: Readable, sink: Writable, { end = true } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      body.unpipe(sink);
      sink.destroy();
      reject(err);
    };
    body.once("error", fail);
    body.once("close", () => {
      if (!body.readableEnded) fail(new Error("the request body was cut off"));
    });
    sink.once("error", fail);
    if (end) sink.once("finish", resolve);
    else body.once("end", resolve);
    body.pipe(sink, { end });
  });
}
