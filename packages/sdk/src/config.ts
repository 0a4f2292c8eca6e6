import { readFileSync } from "node:fs";
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT } from "@paddock/protocol";

export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;
/** Where a daemon started with defaults keeps its token. */
export const DEFAULT_TOKEN_FILE = `${DEFAULT_DATA_DIR}/token`;

export interface ClientOptions {
  /** The daemon's URL; defaults to PADDOCK_URL, then http://127.0.0.1:7423. */
  url?: string;
  /** The API token; defaults to PADDOCK_TOKEN, then the default data dir's token file if readable. */
  token?: string;
  /** A fetch to send requests with instead of the SDK's own node:http transport (tests, proxies). */
  fetch?: typeof fetch;
}

export interface ResolvedClientOptions {
  url: string;
  token: string | undefined;
  fetch: typeof fetch | undefined;
}

export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  const url = (options.url ?? process.env.PADDOCK_URL ?? DEFAULT_URL).replace(/\/+$/, "");
  let token = options.token ?? process.env.PADDOCK_TOKEN;
  if (!token) {
    try {
      token = readFileSync(DEFAULT_TOKEN_FILE, "utf8").trim() || undefined;
    } catch {
      token = undefined;
    }
  }
  return { url, token, fetch: options.fetch };
}
