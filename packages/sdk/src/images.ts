import {
  BuildImageQuerySchema,
  ERROR_STATUS,
  ImageListSchema,
  ImageNameSchema,
  ImageProgressSchema,
  ImageSchema,
  PullImageRequestSchema,
  RuntimeSchema,
  type ImageInfo,
  type RuntimeName,
} from "@paddock/protocol";
import { z } from "zod";
import { packBuildContext } from "./build-context.js";
import type { ClientOptions } from "./config.js";
import {
  checkArgument,
  describeCause,
  ERROR_CLASSES,
  InvalidResponseError,
  isPaddockError,
  localError,
} from "./errors.js";
import { checkedValue, HttpClient, ndjson } from "./http.js";

/** A pull's progress: a message, and the layers' bytes so far and in all when known. */
export interface PullProgress {
  message: string;
  completedBytes?: number;
  totalBytes?: number;
}

/** A Dockerfile build: `images.build({ name, context, ... })`. */
export interface ImageBuildOptions {
  /** What to store the image as: a name or `name:tag` (a plain name is `name:latest`). */
  name: string;
  /** The build context: a local directory, sent as a tar stream with `.dockerignore` applied. */
  context: string;
  /**
   * The Dockerfile: a path relative to `context`, or absolute (it may lie outside the context).
   * Default `Dockerfile` in the context.
   */
  dockerfile?: string;
  /** The stage to build (`docker build --target`); default the last one. */
  target?: string;
  /** `ARG` values (`docker build --build-arg`). */
  buildArgs?: Record<string, string>;
  /** The runtime of the throwaway sandbox the build runs in; default the daemon's. */
  runtime?: RuntimeName;
  /** `"all"`: RUN steps reach the network (with any sandbox's refusals); default `"none"`. */
  network?: "none" | "all";
  /** The build's output (Docker's own lines, stdout and stderr) as it comes. */
  onLog?: (text: string) => void;
  /** Each phase: "receiving the context", "pulling FROM images", "saving the image"... */
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

const callback = z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", {
  error: "must be a function",
});

/** The options a Dockerfile build takes, checked before the context is read. */
const BuildOptionsSchema = z.strictObject({
  name: ImageNameSchema,
  context: z.string().min(1, "give the build context's directory"),
  dockerfile: z.string().min(1).optional(),
  target: z.string().optional(),
  buildArgs: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a build arg's name is letters, digits and _"),
      z.string(),
    )
    .optional(),
  runtime: RuntimeSchema.optional(),
  network: z.enum(["none", "all"]).optional(),
  onLog: callback.optional(),
  onProgress: callback.optional(),
  signal: z.instanceof(AbortSignal).optional(),
});

/** An image name or reference, checked before it is put in a URL. */
const imagePath = (name: string) =>
  `/v1/images/${encodeURIComponent(checkArgument(ImageNameSchema, name, "name"))}`;

/**
 * The daemon's image store.
 *
 * @example
 * ```ts
 * const images = new Images();
 * await images.build({ name: "app:1", context: "./app", onLog: (t) => process.stderr.write(t) });
 * const sandbox = await Sandbox.create({ image: "app:1" });
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

  /**
   * Builds an image from a Dockerfile, as `docker build` does, and stores it under `name` (then
   * `Sandbox.create({ image: name })` runs it). The context directory is streamed as a tar,
   * never held in memory, with `.dockerignore` applied as Docker applies it; the Dockerfile and
   * the ignore file are always sent. The build runs in a throwaway sandbox with Docker; `onLog`
   * gets its output as it comes. Needs the admin token. A Dockerfile that fails to build is an
   * ImageBuildFailedError whose message ends with the failing step's output.
   *
   * With a string, builds a built-in image (busybox, debian, docker) now instead of on first
   * use, reporting each phase to `onProgress`.
   *
   * @example
   * ```ts
   * const image = await new Images().build({
   *   name: "app:1",
   *   context: "./app",
   *   dockerfile: "Dockerfile.prod", // relative to the context
   *   buildArgs: { NODE_VERSION: "22" },
   *   onLog: (text) => process.stderr.write(text),
   * });
   * console.log(image.name, image.digest);
   * await new Images().build("debian"); // a built-in image
   * ```
   */
  async build(options: ImageBuildOptions): Promise<ImageInfo>;
  async build(
    name: string,
    options?: { onProgress?: (message: string) => void; signal?: AbortSignal },
  ): Promise<ImageInfo>;
  async build(
    nameOrOptions: string | ImageBuildOptions,
    options: { onProgress?: (message: string) => void; signal?: AbortSignal } = {},
  ): Promise<ImageInfo> {
    if (typeof nameOrOptions !== "string") return this.buildDockerfile(nameOrOptions);
    const name = nameOrOptions;
    const res = await this.http.send("POST", `${imagePath(name)}/build`, {
      signal: options.signal,
    });
    return this.follow(res, `the build stream of image ${name}`, options, (p) =>
      options.onProgress?.(p.message),
    );
  }

  private async buildDockerfile(options: ImageBuildOptions): Promise<ImageInfo> {
    const checked = checkArgument(BuildOptionsSchema, options, "build");
    const query = {
      name: checked.name,
      ...(checked.target !== undefined && { target: checked.target }),
      buildArg: Object.entries(checked.buildArgs ?? {}).map(([k, v]) => `${k}=${v}`),
      ...(checked.runtime !== undefined && { runtime: checked.runtime }),
      ...(checked.network !== undefined && { network: checked.network }),
    };
    // The query is checked whole (but the Dockerfile's name in the tar) before the context is read.
    checkArgument(BuildImageQuerySchema, query, "build");
    const { tar, dockerfile } = await packBuildContext(checked.context, checked.dockerfile);
    // The context fails as the caller's bad argument (a file that cannot be read), even when the
    // daemon has answered already and the cut is seen on its stream.
    let packFailure: unknown;
    tar.once("error", (err) => (packFailure ??= err));
    const failed = () =>
      isPaddockError(packFailure)
        ? packFailure
        : localError(
            "invalid_request",
            `the build context could not be read: ${describeCause(packFailure)}`,
            undefined,
            packFailure,
          );
    try {
      const res = await this.http.send("POST", "/v1/images/build", {
        query: { ...query, dockerfile },
        body: tar,
        contentType: "application/x-tar",
        signal: checked.signal,
      });
      return await this.follow(
        res,
        `the build stream of ${checked.name}`,
        { signal: checked.signal, onLog: options.onLog },
        (p) => options.onProgress?.(p.message),
      );
    } catch (err) {
      if (packFailure !== undefined && !checked.signal?.aborted) throw failed();
      throw err;
    } finally {
      tar.destroy();
    }
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
    options: { signal?: AbortSignal; onLog?: (text: string) => void },
    onProgress: (p: PullProgress) => void,
  ): Promise<ImageInfo> {
    // The job runs in the daemon, whoever reads it: a cut stream is the daemon's connection.
    const lines = ndjson(res.body, { what, cut: "network_error", signal: options.signal });
    // An onProgress that throws is the caller's own error: it passes as it is.
    for await (const raw of lines) {
      const line = checkedValue(ImageProgressSchema, raw, `${what} sent a line`, res.status);
      if (line.type === "progress") {
        const { type: _type, ...progress } = line;
        onProgress(progress);
      } else if (line.type === "log") options.onLog?.(line.data);
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
