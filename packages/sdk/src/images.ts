import {
  ERROR_STATUS,
  ImageListSchema,
  ImageNameSchema,
  ImageProgressSchema,
  ImageSchema,
  type ImageInfo,
} from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { checkArgument, ERROR_CLASSES, InvalidResponseError } from "./errors.js";
import { HttpClient, ndjson } from "./http.js";

/** An image name, checked before it is put in a URL. */
const imagePath = (name: string) =>
  `/v1/images/${encodeURIComponent(checkArgument(ImageNameSchema, name, "name"))}`;

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

  async get(name: string): Promise<ImageInfo> {
    return this.http.json("GET", imagePath(name), ImageSchema);
  }

  /** Builds a built-in image (busybox, debian) if needed, reporting each progress line. */
  async build(
    name: string,
    options: { onProgress?: (message: string) => void; signal?: AbortSignal } = {},
  ): Promise<ImageInfo> {
    const res = await this.http.send("POST", `${imagePath(name)}/build`, {
      signal: options.signal,
    });
    // The build runs in the daemon, whoever reads it: a cut stream is the daemon's connection.
    const what = `the build stream of image ${name}`;
    const lines = ndjson(res.body, { what, cut: "network_error", signal: options.signal });
    // An onProgress that throws is the caller's own error: it passes as it is.
    for await (const raw of lines) {
      const parsed = ImageProgressSchema.safeParse(raw);
      if (!parsed.success) {
        throw new InvalidResponseError(
          "invalid_response",
          `${what} sent a line that is not Paddock's protocol: ${parsed.error.issues[0]?.message ?? "invalid"}`,
          res.status,
          undefined,
          { cause: parsed.error },
        );
      }
      const line = parsed.data;
      if (line.type === "progress") options.onProgress?.(line.message);
      else if (line.type === "done") return line.image;
      else {
        const { code, message } = line.error;
        throw new ERROR_CLASSES[code](code, message, ERROR_STATUS[code]);
      }
    }
    throw new InvalidResponseError(
      "invalid_response",
      `${what} ended without a result (done or error)`,
      res.status,
    );
  }

  /** Imports a rootfs from a tar archive (plain or gzip), streamed. */
  async import(
    name: string,
    tar: ReadableStream<Uint8Array>,
    options: { signal?: AbortSignal } = {},
  ): Promise<ImageInfo> {
    return this.http.json("PUT", imagePath(name), ImageSchema, {
      body: tar,
      contentType: "application/x-tar",
      signal: options.signal,
    });
  }

  async remove(name: string): Promise<void> {
    await this.http.send("DELETE", imagePath(name));
  }
}
