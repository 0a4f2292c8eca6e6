import { readFileSync } from "node:fs";
import path from "node:path";
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT } from "@paddock/protocol";
import { errnoOf } from "./errors.js";

export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;
/** Where a daemon started with defaults keeps its token. */
export const DEFAULT_TOKEN_FILE = `${DEFAULT_DATA_DIR}/token`;

export interface ClientOptions {
  /** The daemon's URL; defaults to PADDOCK_URL, then http://127.0.0.1:7423. */
  url?: string;
  /**
   * The API token; defaults to PADDOCK_TOKEN, then the token file of the daemon's data dir
   * (PADDOCK_DATA_DIR, else /var/lib/paddock) if readable.
   */
  token?: string;
  /** A fetch to send requests with instead of the SDK's own node:http transport (tests, proxies). */
  fetch?: typeof fetch;
}

export interface ResolvedClientOptions {
  url: string;
  token: string | undefined;
  /**
   * Where the token came from, in words ("options.token", "PADDOCK_TOKEN", "the token file
   * <path>", or why there is none): told in an UnauthorizedError's message.
   */
  tokenSource: string;
  fetch: typeof fetch | undefined;
}

/** The token file the daemon writes in its data dir: PADDOCK_DATA_DIR's, else the default's. */
export function tokenFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PADDOCK_DATA_DIR ? path.join(env.PADDOCK_DATA_DIR, "token") : DEFAULT_TOKEN_FILE;
}

/**
 * The connection settings, in the CLI's order: options, then PADDOCK_URL and PADDOCK_TOKEN, then
 * the data dir's token file.
 */
export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  const url = (options.url || process.env.PADDOCK_URL || DEFAULT_URL).replace(/\/+$/, "");
  const resolved = (token: string | undefined, tokenSource: string) => ({
    url,
    token,
    tokenSource,
    fetch: options.fetch,
  });
  if (options.token) return resolved(options.token, "options.token");
  if (process.env.PADDOCK_TOKEN) return resolved(process.env.PADDOCK_TOKEN, "PADDOCK_TOKEN");
  const file = tokenFilePath();
  let problem: string;
  try {
    const token = readFileSync(file, "utf8").trim();
    if (token) return resolved(token, `the token file ${file}`);
    problem = "it is empty";
  } catch (err) {
    const code = errnoOf(err);
    problem = code === "ENOENT" ? "there is none" : `it cannot be read: ${code ?? String(err)}`;
  }
  return resolved(
    undefined,
    `no token was sent: none in options.token or PADDOCK_TOKEN, and the token file ${file}: ${problem}`,
  );
}
