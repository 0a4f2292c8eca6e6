import type { Api } from "./api.js";

/** What every page gets: the API as the signed-in key, and the status line. */
export interface Context {
  api: Api;
  /** The daemon's own token (not an API key): it also manages API keys. */
  admin: boolean;
  /** Shows an error (or a message) in the status line until the next one. */
  notify(message: unknown): void;
}
