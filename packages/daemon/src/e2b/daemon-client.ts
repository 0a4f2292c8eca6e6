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

/** A request body as fetch takes it. */
export type RequestBody = NonNullable<RequestInit["body"]>;

type Query = Record<string, string | number | boolean | undefined>;

export interface CallOptions {
  query?: Query;
  json?: unknown;
  /** A raw body (uploads), streamed. */
  body?: RequestBody;
  contentType?: string;
  contentLength?: number;
  signal?: AbortSignal;
}

/**
 * Paddock's own HTTP API, called as the E2B caller: their key goes on as the bearer token, so
 * auth, key scoping (a key sees only its sandboxes), validation and limits are exactly those of
 * Paddock's API, with no second copy of any of them here.
 */
export class DaemonClient {
  constructor(
    private readonly baseUrl: string,
    private readonly key: string,
  ) {}

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

  /** The response of a call that succeeded; a Paddock error body becomes a PaddockApiError. */
  async send(method: string, path: string, options: CallOptions = {}): Promise<Response> {
    const url = this.url(path, options.query);
    const headers = this.headers();
    let body: RequestBody | undefined = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["content-type"] = "application/json";
    } else if (body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/octet-stream";
      if (options.contentLength !== undefined)
        headers["content-length"] = String(options.contentLength);
    }
    const res = await fetch(url, {
      method,
      headers,
      body,
      signal: options.signal,
      ...(body !== undefined && typeof body !== "string" ? { duplex: "half" } : {}),
    } as RequestInit);
    if (res.ok) return res;
    const text = await res.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const error = ErrorBodySchema.safeParse(parsed);
    if (error.success) {
      throw new PaddockApiError(res.status, error.data.error.code, error.data.error.message);
    }
    throw new PaddockApiError(res.status, "internal", text || res.statusText);
  }

  /** A JSON answer, checked against the protocol's schema like any outside input. */
  async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    options: CallOptions = {},
  ): Promise<z.output<S>> {
    const res = await this.send(method, path, options);
    const parsed = schema.safeParse(await res.json());
    if (!parsed.success) {
      throw new PaddockApiError(
        502,
        "internal",
        `the daemon's answer to ${method} ${path} did not match its schema`,
      );
    }
    return parsed.data;
  }

  /** Paddock's path of a sandbox (and below it). */
  static sandbox(id: string, rest = ""): string {
    return `/v1/sandboxes/${encodeURIComponent(id)}${rest}`;
  }
}
