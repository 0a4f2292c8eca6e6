import {
  CreatedKeySchema,
  KeyListSchema,
  KeyNameSchema,
  KeySchema,
  type KeyInfo,
} from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { checkArgument } from "./errors.js";
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
  async create(name: string): Promise<KeyInfo & { key: string }> {
    checkArgument(KeyNameSchema, name, "name");
    return this.http.json("POST", "/v1/keys", CreatedKeySchema, { json: { name } });
  }

  async list(): Promise<KeyInfo[]> {
    return (await this.http.json("GET", "/v1/keys", KeyListSchema)).keys;
  }

  /** Revokes a key: it gets 401 from then on. */
  async revoke(name: string): Promise<KeyInfo> {
    const path = `/v1/keys/${encodeURIComponent(checkArgument(KeyNameSchema, name, "name"))}`;
    return this.http.json("DELETE", path, KeySchema);
  }
}
