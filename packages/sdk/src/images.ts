import {
  ImageListSchema,
  ImageProgressSchema,
  ImageSchema,
  type ImageInfo,
} from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { InvalidResponseError, ERROR_CLASSES } from "./errors.js";
import { HttpClient, ndjson } from "./http.js";

/**
 * The daemon's image store.
 *
 * @example
 * ```ts
 * const images = new Images();
 * await images.build("debian", { onProgress: console.log });
 * ```
 */
export class Images {
  private readonly http: HttpClient;

  constructor(options: ClientOptions = {}) {
    this.http = new HttpClient(options);
  }

  /** Every image: stored ones and built-ins not built yet (`ready: false`). */
  async list(): Promise<ImageInfo[]> {
    return (await this.http.json("GET", "/v1/images", ImageListSchema)).images;
  }

  get(name: string): Promise<ImageInfo> {
    return this.http.json("GET", `/v1/images/${encodeURIComponent(name)}`, ImageSchema);
  }

  /** Builds a built-in image (busybox, debian) if needed, reporting each progress line. */
  async build(
    name: string,
    options: { onProgress?: (message: string) => void; signal?: AbortSignal } = {},
  ): Promise<ImageInfo> {
    const res = await this.http.send("POST", `/v1/images/${encodeURIComponent(name)}/build`, {
      signal: options.signal,
    });
    for await (const raw of ndjson(res.body)) {
      const line = ImageProgressSchema.parse(raw);
      if (line.type === "progress") options.onProgress?.(line.message);
      else if (line.type === "done") return line.image;
      else {
        throw new ERROR_CLASSES[line.error.code](line.error.code, line.error.message, 500);
      }
    }
    throw new InvalidResponseError(
      "invalid_response",
      "the image build stream ended without a result",
      500,
    );
  }

  /** Imports a rootfs from a tar archive (plain or gzip), streamed. */
  import(
    name: string,
    tar: ReadableStream<Uint8Array>,
    options: { signal?: AbortSignal } = {},
  ): Promise<ImageInfo> {
    return this.http.json("PUT", `/v1/images/${encodeURIComponent(name)}`, ImageSchema, {
      body: tar,
      contentType: "application/x-tar",
      signal: options.signal,
    });
  }

  async remove(name: string): Promise<void> {
    await this.http.send("DELETE", `/v1/images/${encodeURIComponent(name)}`);
  }
}
