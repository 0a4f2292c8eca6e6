import {
  SnapshotListSchema,
  SnapshotRefSchema,
  SnapshotSchema,
  type SnapshotInfo,
} from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { checkArgument } from "./errors.js";
import { HttpClient } from "./http.js";

/**
 * Snapshots taken with `sandbox.snapshot()`: list, look up and delete them. A key sees its own
 * only. Start a sandbox from one with `Sandbox.create({ snapshot })`.
 *
 * @example
 * ```ts
 * const snapshots = new Snapshots();
 * for (const s of await snapshots.list()) console.log(s.name ?? s.id, s.sizeBytes);
 * await snapshots.delete("prepared");
 * ```
 */
export class Snapshots {
  private readonly http: HttpClient;

  constructor(options: ClientOptions = {}) {
    this.http = new HttpClient(options);
  }

  async list(): Promise<SnapshotInfo[]> {
    return (await this.http.json("GET", "/v1/snapshots", SnapshotListSchema)).snapshots;
  }

  /** By id or name; throws SnapshotNotFoundError if there is none. */
  get(ref: string): Promise<SnapshotInfo> {
    return this.http.json("GET", this.path(ref), SnapshotSchema);
  }

  /** Deletes a snapshot; sandboxes started from it keep running. */
  delete(ref: string): Promise<SnapshotInfo> {
    return this.http.json("DELETE", this.path(ref), SnapshotSchema);
  }

  private path(ref: string): string {
    return `/v1/snapshots/${encodeURIComponent(checkArgument(SnapshotRefSchema, ref, "snapshot"))}`;
  }
}
