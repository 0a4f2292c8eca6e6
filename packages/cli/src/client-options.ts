import { readFileSync } from "node:fs";
import path from "node:path";
import type { ClientOptions } from "paddock";

/**
 * The CLI's connection settings: PADDOCK_URL and PADDOCK_TOKEN; without a token, the token file
 * of PADDOCK_DATA_DIR (when set), else the SDK's default (the default data dir's token).
 */
export function cliClientOptions(): ClientOptions {
  if (process.env.PADDOCK_TOKEN || !process.env.PADDOCK_DATA_DIR) return {};
  try {
    const token = readFileSync(path.join(process.env.PADDOCK_DATA_DIR, "token"), "utf8").trim();
    return token ? { token } : {};
  } catch {
    return {};
  }
}
