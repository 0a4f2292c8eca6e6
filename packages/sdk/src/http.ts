import { Readable } from "node:stream";
import type { z } from "zod";
import type { Body } from "./sources.js";
import { nodeRequest } from "./node-request.js";
import { errorFromResponse, InvalidResponseError, NetworkError } from "./errors.js";
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from "./config.js";

export interface RequestOptions {
  query?: Record<string, string | string[] | undefined>;
  json?: unknown;
  /** Bytes, or a stream sent as it is read, never buffered whole. */
  body?: Body;
  contentType?: string;
  /** The body's length when known: large uploads of known length take the daemon's fast path. */
  contentLength?: number;
  signal?: AbortSignal;
}

/** The one place the SDK talks HTTP: auth, errors and response validation. */
export class HttpClient {
  readonly options: ResolvedClientOptions;

  constructor(options: ClientOptions = {}) {
    this.options = resolveClientOptions(options);
  }

  /** Sends a request and returns the raw response once it is known to be a success. */
  async send(method: string, path: string, req: RequestOptions = {}): Promise<Response> {
    const url = new URL(this.options.url + path);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value])
        url.searchParams.append(key, v);
    }
    const headers: Record<string, string> = {};
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let body: string | Body | undefined;
    if (req.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(req.json);
    } else if (req.body !== undefined) {
      headers["content-type"] = req.contentType ?? "application/octet-stream";
      if (req.contentLength !== undefined) headers["content-length"] = String(req.contentLength);
      body = req.body;
    }
    let res: Response;
    try {
      const init = { method, headers, body, signal: req.signal };
      res =
        this.options.fetch === undefined
          ? await nodeRequest(url, init)
          : await this.options.fetch(url, {
              ...init,
              ...(req.body instanceof Uint8Array || req.body === undefined
                ? {}
                : { duplex: "half" }),
            } as RequestInit);
    } catch (err) {
      releaseBody(req.body);
      if (req.signal?.aborted) throw err;
      throw new NetworkError(
        "network_error",
        `cannot reach the Paddock daemon at ${this.options.url}: ${(err as Error).message}. Is \`paddock serve\` running?`,
        0,
        undefined,
        { cause: err },
      );
    }
    if (!res.ok) {
      releaseBody(req.body);
      const text = await res.text();
      let parsed: unknown = undefined;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: reported as an invalid response below
      }
      throw errorFromResponse(res.status, parsed);
    }
    return res;
  }

  /** Sends a request and checks the JSON answer against `schema`. */
  async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    req: RequestOptions = {},
  ): Promise<z.output<S>> {
    const res = await this.send(method, path, req);
    const parsed = schema.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) {
      throw new InvalidResponseError(
        "invalid_response",
        `unexpected answer from ${method} ${path}: ${parsed.error.message}`,
        res.status,
      );
    }
    return parsed.data;
  }
}

/** Splits a byte stream of NDJSON into parsed values, one per line. */
export async function* ndjson(body: ReadableStream<Uint8Array> | null): AsyncGenerator<unknown> {
  if (!body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buffered.trim()) yield JSON.parse(buffered);
}

/** A failed request stops reading its streamed body, so the source is closed, not drained on. */
function releaseBody(body: RequestOptions["body"]): void {
  if (body instanceof ReadableStream) body.cancel().catch(() => {});
  else if (body instanceof Readable) body.destroy();
}
