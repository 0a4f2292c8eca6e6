import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { z } from "zod";
import { ErrorBodySchema } from "@paddock/protocol";

/** A failure answered by Paddock's API: its status, stable code and message. */
export class PaddockApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined>;

export interface CallOptions {
  query?: Query;
  json?: unknown;
  /** A raw body (uploads, stdin), streamed. */
  body?: Readable | Buffer;
  contentType?: string;
  contentLength?: number;
  signal?: AbortSignal;
}

/** The largest error body read from the daemon. */
const MAX_ERROR_BODY = 64 * 1024;

/** Reads a whole (small) answer. */
export async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Paddock's own HTTP API, called as the E2B caller: their key goes on as the bearer token, so
 * auth, key scoping (a key sees only its sandboxes), validation and limits are exactly those of
 * Paddock's API, with no second copy of any of them here. Plain node:http with kept-alive
 * connections: bodies are piped both ways, at the speed of Paddock's own API.
 */
export class DaemonClient {
  constructor(
    private readonly baseUrl: string,
    private readonly key: string,
    private readonly agent: Agent,
  ) {}

  /** A connection pool for the calls of one E2B server. */
  static pool(): Agent {
    return new Agent({ keepAlive: true, maxSockets: 256 });
  }

  /** The full URL of an API path. */
  url(path: string, query: Query = {}): URL {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    return url;
  }

  /** The caller's credentials as Paddock's API takes them. */
  headers(): Record<string, string> {
    return { authorization: `Bearer ${this.key}` };
  }

  /** The answer of a call that succeeded, as a stream; a Paddock error becomes a PaddockApiError. */
  async send(method: string, path: string, options: CallOptions = {}): Promise<IncomingMessage> {
    const headers = this.headers();
    let body: Readable | Buffer | undefined = options.body;
    if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      headers["content-type"] = "application/json";
    } else if (body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/octet-stream";
    }
    if (Buffer.isBuffer(body)) headers["content-length"] = String(body.length);
    else if (options.contentLength !== undefined)
      headers["content-length"] = String(options.contentLength);
    const req = httpRequest(this.url(path, options.query), {
      method,
      headers,
      agent: this.agent,
      signal: options.signal,
    });
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      req.once("response", resolve);
      req.once("error", reject);
    });
    if (body instanceof Readable) {
      // The upload may fail first (the daemon refusing early): the answer says why.
      pipeline(body, req).catch(() => {});
    } else req.end(body);
    const res = await answered;
    const status = res.statusCode ?? 500;
    if (status >= 200 && status < 300) return res;
    const text = (await readText(res).catch(() => "")).slice(0, MAX_ERROR_BODY);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const error = ErrorBodySchema.safeParse(parsed);
    if (error.success) {
      throw new PaddockApiError(status, error.data.error.code, error.data.error.message);
    }
    throw new PaddockApiError(status, "internal", text || `HTTP ${status}`);
  }

  /** A call whose answer is not needed: read to its end, so its connection is kept. */
  async call(method: string, path: string, options: CallOptions = {}): Promise<void> {
    (await this.send(method, path, options)).resume();
  }

  /** A JSON answer, checked against the protocol's schema like any outside input. */
  async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    options: CallOptions = {},
  ): Promise<z.output<S>> {
    const text = await readText(await this.send(method, path, options));
    let parsed: ReturnType<S["safeParse"]> | undefined;
    try {
      parsed = schema.safeParse(JSON.parse(text)) as ReturnType<S["safeParse"]>;
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      throw new PaddockApiError(
        502,
        "internal",
        `the daemon's answer to ${method} ${path} did not match its schema`,
      );
    }
    return parsed.data as z.output<S>;
  }

  /** Paddock's path of a sandbox (and below it). */
  static sandbox(id: string, rest = ""): string {
    return `/v1/sandboxes/${encodeURIComponent(id)}${rest}`;
  }
}
