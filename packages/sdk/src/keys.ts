import { CreatedKeySchema, KeyListSchema, KeySchema, type KeyInfo } from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { HttpClient } from "./http.js";

/**
 * API keys (needs the admin token). Each key sees and touches only the sandboxes it created.
 *
 * @example
 * ```ts
 * const { key } = await new Keys().create("ci");
 * const sandbox = await Sandbox.create({ token: key });
 * ```
 */
export class Keys {
  private readonly http: HttpClient;

  constructor(options: ClientOptions = {}) {
    this.http = new HttpClient(options);
  }

  /** Creates a key; the secret in the answer is shown only this once. */
  create(name: string): Promise<KeyInfo & { key: string }> {
    return this.http.json("POST", "/v1/keys", CreatedKeySchema, { json: { name } });
  }

  async list(): Promise<KeyInfo[]> {
    return (await this.http.json("GET", "/v1/keys", KeyListSchema)).keys;
  }

  /** Revokes a key: it gets 401 from then on. */
  revoke(name: string): Promise<KeyInfo> {
    return this.http.json("DELETE", `/v1/keys/${encodeURIComponent(name)}`, KeySchema);
  }
}
