import {
  ERROR_STATUS,
  ImageListSchema,
  ImageNameSchema,
  ImageProgressSchema,
  ImageSchema,
  PullImageRequestSchema,
  type ImageInfo,
} from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { checkArgument, ERROR_CLASSES, InvalidResponseError } from "./errors.js";
import { HttpClient, ndjson } from "./http.js";

/** A pull's progress: a message, and the layers' bytes so far and in all when known. */
export interface PullProgress {
  message: string;
  completedBytes?: number;
  totalBytes?: number;
}

/** An image name or reference, checked before it is put in a URL. */
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
    return this.follow(res, `the build stream of image ${name}`, options, (p) =>
      options.onProgress?.(p.message),
    );
  }

  /**
   * Pulls an image from a registry into the daemon's store (linux/amd64 unless `platform` says
   * otherwise). The registry is asked which digest the reference names now; a digest already
   * stored downloads nothing. Progress events carry the layers' bytes so far and in all.
   *
   * @example
   * ```ts
   * const image = await new Images().pull("python:3.12-slim", {
   *   onProgress: (p) => console.log(p.message, p.completedBytes, p.totalBytes),
   * });
   * console.log(image.digest, image.config?.env);
   * ```
   */
  async pull(
    reference: string,
    options: {
      platform?: string;
      onProgress?: (progress: PullProgress) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<ImageInfo> {
    const body = checkArgument(
      PullImageRequestSchema,
      { reference, ...(options.platform !== undefined && { platform: options.platform }) },
      "pull",
    );
    const res = await this.http.send("POST", "/v1/images/pull", {
      json: body,
      signal: options.signal,
    });
    return this.follow(res, `the pull stream of ${reference}`, options, (p) =>
      options.onProgress?.(p),
    );
  }

  /** Reads an image job's NDJSON stream to its done (the image) or error (thrown). */
  private async follow(
    res: Response,
    what: string,
    options: { signal?: AbortSignal },
    onProgress: (p: PullProgress) => void,
  ): Promise<ImageInfo> {
    // The job runs in the daemon, whoever reads it: a cut stream is the daemon's connection.
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
      if (line.type === "progress") {
        const { type: _type, ...progress } = line;
        onProgress(progress);
      } else if (line.type === "done") return line.image;
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

  /**
   * Imports an image from a tar (plain or gzip), streamed: a root filesystem (stored as a local
   * image `name`), a `docker save` archive or an OCI image layout (stored by manifest digest
   * under `name`, a name or `name:tag`, with its config: Env, WorkingDir, User, Entrypoint, Cmd).
   * From an archive with several images, the one saved as `name` is taken, else the linux/amd64
   * one. A damaged archive is refused (`invalid_request`) and leaves nothing stored.
   *
   * @example
   * ```ts
   * import { createReadStream } from "node:fs";
   * import { Readable } from "node:stream";
   * const tar = Readable.toWeb(createReadStream("app.tar")) as ReadableStream<Uint8Array>;
   * const image = await new Images().import("app:1", tar); // from `docker save app:1 > app.tar`
   * console.log(image.digest, image.config?.cmd);
   * ```
   */
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

  /**
   * Removes an image. A pulled image is removed by reference (by digest: with all its
   * references); its files go once no sandbox uses it.
   */
  async remove(name: string): Promise<void> {
    await this.http.send("DELETE", imagePath(name));
  }
}
