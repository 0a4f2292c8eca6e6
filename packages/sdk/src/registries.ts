import {
  RegistryHostSchema,
  RegistryListSchema,
  RegistryLoginRequestSchema,
  type RegistryInfo,
} from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { checkArgument } from "./errors.js";
import { HttpClient } from "./http.js";

/**
 * Registry credentials kept by the daemon for pulls (admin token only). They are checked
 * against the registry when stored and never sent back.
 *
 * @example
 * ```ts
 * const registries = new Registries();
 * await registries.login("ghcr.io", { username: "me", password: process.env.GHCR_TOKEN! });
 * console.log(await registries.list()); // [{ host: "ghcr.io", loggedIn: true, insecure: false }]
 * ```
 */
export class Registries {
  private readonly http: HttpClient;

  constructor(options: ClientOptions = {}) {
    this.http = new HttpClient(options);
  }

  /** Hosts with stored credentials or allowed over plain HTTP; never the credentials. */
  async list(): Promise<RegistryInfo[]> {
    return (await this.http.json("GET", "/v1/registries", RegistryListSchema)).registries;
  }

  /** Checks the credentials against the registry and stores them; RegistryAuthFailedError if refused. */
  async login(host: string, credentials: { username: string; password: string }): Promise<void> {
    const body = checkArgument(RegistryLoginRequestSchema, { host, ...credentials }, "login");
    await this.http.send("POST", "/v1/registries/login", { json: body });
  }

  /** Forgets the credentials stored for `host`. */
  async logout(host: string): Promise<void> {
    const checked = checkArgument(RegistryHostSchema, host, "host");
    await this.http.send("DELETE", `/v1/registries/${encodeURIComponent(checked)}`);
  }
}
