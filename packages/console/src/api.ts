import {
  ErrorBodySchema,
  WS_PROTOCOL,
  WS_TICKET_PROTOCOL_PREFIX,
  WsTicketSchema,
} from "@paddock/protocol";

/** Session storage only: the key goes when the tab does, and never into a URL or a cookie. */
const TOKEN_KEY = "paddock.token";

/** What the console checks an answer with: one of the protocol's zod schemas. */
interface Schema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: Error };
}

/** A refusal from the daemon (its stable code and message), or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  json?: unknown;
  /** A raw body (an upload), streamed by the browser. */
  body?: Blob;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Let the request finish after the page is left (a small body only). */
  keepalive?: boolean;
}

/** The daemon's API, as the signed-in key: every call carries it as a bearer token. */
export class Api {
  private constructor(readonly token: string) {}

  static fromSession(): Api | undefined {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? new Api(token) : undefined;
  }

  /** Checks the key with a harmless call, then keeps it for this tab. */
  static async signIn(token: string): Promise<Api> {
    const api = new Api(token.trim());
    await api.request("GET", "/v1/sandboxes?state=running");
    sessionStorage.setItem(TOKEN_KEY, api.token);
    return api;
  }

  static signOut(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      ...options.headers,
    };
    let body: BodyInit | undefined;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.body) {
      headers["content-type"] = "application/octet-stream";
      body = options.body;
    }
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body,
        signal: options.signal,
        keepalive: options.keepalive,
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw new ApiError(0, "network", `cannot reach the daemon: ${(err as Error).message}`);
    }
    if (response.ok) return response;
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not the daemon's error shape; its status says enough.
    }
    const error = ErrorBodySchema.safeParse(parsed);
    if (error.success) {
      throw new ApiError(response.status, error.data.error.code, error.data.error.message);
    }
    throw new ApiError(response.status, "http", `${method} ${path}: HTTP ${response.status}`);
  }

  /** A call whose answer is JSON, checked against `schema`. */
  async json<T>(
    method: string,
    path: string,
    schema: Schema<T>,
    options?: RequestOptions,
  ): Promise<T> {
    const response = await this.request(method, path, options);
    const parsed = schema.safeParse(await response.json());
    if (!parsed.success) {
      throw new ApiError(0, "invalid_response", `${method} ${path}: unexpected answer`);
    }
    return parsed.data;
  }

  /**
   * Opens a WebSocket to `path`. A browser cannot send `Authorization` on one, so a single-use
   * ticket asked for with the key goes as a subprotocol (see the protocol's WsTicketSchema).
   */
  async socket(path: string): Promise<WebSocket> {
    const { ticket } = await this.json("POST", "/v1/ws-tickets", WsTicketSchema);
    const url = new URL(path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url, [WS_PROTOCOL, `${WS_TICKET_PROTOCOL_PREFIX}${ticket}`]);
    ws.binaryType = "arraybuffer";
    return ws;
  }
}

/** A sandbox's API path. */
export const sandboxPath = (id: string, rest = "") =>
  `/v1/sandboxes/${encodeURIComponent(id)}${rest}`;
