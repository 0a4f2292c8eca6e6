import type { ClientOptions } from "paddock";

/**
 * The CLI's connection settings. The SDK itself reads PADDOCK_URL, PADDOCK_TOKEN and the token
 * file of PADDOCK_DATA_DIR (else the default data dir), so nothing is passed: a token read here
 * would reach the SDK as options.token, and a 401 would then name the wrong source.
 */
export function cliClientOptions(): ClientOptions {
  return {};
}
