import { Readable } from "node:stream";
import type { z } from "zod";
import type { Body } from "./sources.js";
import { nodeRequest } from "./node-request.js";
import {
  cutError,
  describeCause,
  errorFromResponse,
  InvalidResponseError,
  isPaddockError,
  localError,
  NetworkError,
  UnauthorizedError,
  type CutCode,
} from "./errors.js";
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

/** What a streamed answer is, for the errors raised while reading it. */
export interface StreamContext {
  /** Names the stream in messages: "the image build stream of debian". */
  what: string;
  /** How a cut is reported: see cutError. */
  cut: CutCode;
  /** The caller's signal: a read that fails after it aborted rethrows the abort. */
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
    // A body that fails while it is sent (a local file that cannot be read) is the caller's
    // problem, not the connection's: it is remembered to tell the two apart.
    let bodyFailure: unknown;
    if (req.body instanceof Readable) req.body.once("error", (err) => (bodyFailure ??= err));
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
      // fetch reports a failed body as its cause.
      bodyFailure ??= err instanceof Error && isPaddockError(err.cause) ? err.cause : undefined;
      if (bodyFailure !== undefined) {
        throw isPaddockError(bodyFailure)
          ? bodyFailure
          : localError(
              "invalid_request",
              `the request body could not be read: ${describeCause(bodyFailure)}`,
              undefined,
              bodyFailure,
            );
      }
      throw new NetworkError(
        "network_error",
        `cannot reach the Paddock daemon at ${this.options.url}: ${describeCause(err)}. Is \`paddock serve\` running?`,
        0,
        undefined,
        { cause: err },
      );
    }
    if (!res.ok) {
      releaseBody(req.body);
      const text = await readText(res, `the error answer to ${method} ${url.pathname}`, req.signal);
      const err = errorFromResponse(res.status, parseJson(text).value);
      throw err instanceof UnauthorizedError ? this.withTokenSource(err) : err;
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
    const text = await readText(res, `the answer to ${method} ${path}`, req.signal);
    const json = parseJson(text);
    const parsed = json.ok ? schema.safeParse(json.value) : undefined;
    if (!parsed?.success) {
      throw new InvalidResponseError(
        "invalid_response",
        `unexpected answer from ${method} ${path}: ${parsed ? parsed.error.message : `not JSON: ${text.slice(0, 200)}`}`,
        res.status,
        undefined,
        { cause: parsed?.error },
      );
    }
    return parsed.data;
  }

  /** A 401 says which token was refused, so a stale PADDOCK_TOKEN or token file is found. */
  private withTokenSource(err: UnauthorizedError): UnauthorizedError {
    const { token, tokenSource } = this.options;
    return new UnauthorizedError(
      err.code,
      `${err.message} (${token ? `token from ${tokenSource}` : tokenSource})`,
      err.status,
      { ...err.details, tokenSource },
    );
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; value: undefined } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, value: undefined };
  }
}

/** Reads a whole answer; a connection cut meanwhile is a NetworkError. */
async function readText(res: Response, what: string, signal?: AbortSignal): Promise<string> {
  try {
    return await res.text();
  } catch (err) {
    throw cutError(err, what, "network_error", signal);
  }
}

/**
 * A value read from a stream, checked against its schema; one that is not is an
 * InvalidResponseError whose message starts with `sent` ("process 7 sent an event").
 */
export function checkedValue<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  sent: string,
  status = 200,
): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new InvalidResponseError(
    "invalid_response",
    `${sent} that is not Paddock's protocol: ${parsed.error.issues[0]?.message ?? "invalid"}`,
    status,
    undefined,
    { cause: parsed.error },
  );
}

/**
 * Splits a byte stream of NDJSON into parsed values, one per line, to be checked by the caller
 * against the frame's schema. A line that is not JSON is an InvalidResponseError; a body cut
 * while it is read is classified as `context.cut`.
 */
export async function* ndjson(
  body: ReadableStream<Uint8Array> | null,
  context: StreamContext,
): AsyncGenerator<unknown> {
  if (!body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  const parse = (line: string): unknown => {
    try {
      return JSON.parse(line);
    } catch (err) {
      throw new InvalidResponseError(
        "invalid_response",
        `${context.what} sent a line that is not JSON: ${line.slice(0, 200)}`,
        200,
        undefined,
        { cause: err },
      );
    }
  };
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) yield parse(line);
      }
    }
    buffered += decoder.decode();
  } catch (err) {
    throw cutError(err, context.what, context.cut, context.signal);
  }
  if (buffered.trim()) yield parse(buffered.trim());
}

/** A failed request stops reading its streamed body, so the source is closed, not drained on. */
function releaseBody(body: RequestOptions["body"]): void {
  if (body instanceof ReadableStream) body.cancel().catch(() => {});
  else if (body instanceof Readable) body.destroy();
}
