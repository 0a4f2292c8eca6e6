import {
  parseWarmPoolSpec,
  SetWarmPoolsRequestSchema,
  WarmPoolListSchema,
  type WarmPoolInfo,
  type WarmPoolSpecInput,
} from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { checkArgument, localError } from "./errors.js";
import { HttpClient } from "./http.js";

/**
 * Warm pools (needs the admin token): sandboxes the daemon keeps running per profile, so a
 * `Sandbox.create` with that profile (image, runtime, cpu, memoryMiB, pidsLimit, diskMiB, docker,
 * network) takes a ready one at once. No API key sees a pool's sandboxes until a create claims
 * one; its timeout starts then.
 *
 * @example
 * ```ts
 * await new WarmPools().set(["busybox:runsc=4", { image: "python:3.12-slim", runtime: "runc", size: 2 }]);
 * const sandbox = await Sandbox.create({ image: "busybox" }); // claims a ready one
 * ```
 */
export class WarmPools {
  private readonly http: HttpClient;

  constructor(options: ClientOptions = {}) {
    this.http = new HttpClient(options);
  }

  /** Each pool: its profile, its size, and how many sandboxes are ready and being made. */
  async list(): Promise<WarmPoolInfo[]> {
    return (await this.http.json("GET", "/v1/warm-pools", WarmPoolListSchema)).pools;
  }

  /**
   * Replaces the daemon's pools: kept profiles keep their sandboxes, dropped ones are torn down,
   * new ones fill in the background. A pool is an object or a string in `paddock serve --warm`
   * syntax (`IMAGE:RUNTIME=SIZE[,memory=MiB,cpu=N,...]`); an empty list removes every pool.
   */
  async set(pools: (WarmPoolSpecInput | string)[]): Promise<WarmPoolInfo[]> {
    const specs = pools.map((pool, i) => {
      if (typeof pool !== "string") return pool;
      try {
        return parseWarmPoolSpec(pool);
      } catch (err) {
        throw localError(
          "invalid_request",
          `invalid request: pools.${i}: ${(err as Error).message}`,
        );
      }
    });
    const body = checkArgument(SetWarmPoolsRequestSchema, { pools: specs }, "warmPools");
    return (await this.http.json("PUT", "/v1/warm-pools", WarmPoolListSchema, { json: body }))
      .pools;
  }
}
