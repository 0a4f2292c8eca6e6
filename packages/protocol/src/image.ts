import { z } from "zod";
import { ErrorCodeSchema } from "./errors.js";
import { ImageNameSchema, RuntimeSchema } from "./sandbox.js";

export const BUILTIN_IMAGES = ["busybox", "debian", "docker"] as const;

/** What a pulled image's config says about running it (OCI image config, `config` section). */
export const ImageConfigSchema = z.object({
  /** `NAME=value` entries, PATH among them: the base env of a sandbox made from the image. */
  env: z.array(z.string()),
  /** The default cwd of processes; null: `/`. */
  workingDir: z.string().nullable(),
  /** The default user of processes (name, uid, name:group or uid:gid); null: root. */
  user: z.string().nullable(),
  entrypoint: z.array(z.string()).nullable(),
  cmd: z.array(z.string()).nullable(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export const ImageSchema = z.object({
  /** A built-in or imported image's name; a pulled image's first reference (or name@digest). */
  name: z.string(),
  source: z.enum(["builtin", "imported", "pulled"]),
  /** False for a built-in image that has not been built yet. */
  ready: z.boolean(),
  /** When it was built, imported or pulled. */
  createdAt: z.string().nullable(),
  /** Pulled: every reference that names this image (`registry/repository:tag`). */
  references: z.array(z.string()).optional(),
  /** Pulled: the registry's manifest digest (`sha256:...`) the image is stored under. */
  digest: z.string().optional(),
  /** Pulled: `os/architecture[/variant]`. */
  platform: z.string().optional(),
  /** Pulled: bytes of the unpacked root filesystem. */
  sizeBytes: z.number().optional(),
  config: ImageConfigSchema.optional(),
});
export type ImageInfo = z.infer<typeof ImageSchema>;

export const ImageListSchema = z.object({ images: z.array(ImageSchema) });

export const ImageNameParamsSchema = z.strictObject({ name: ImageNameSchema });

/** `os/arch[/variant]`, as Docker's `--platform` takes it. */
export const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;
export const PlatformSchema = z
  .string()
  .regex(PLATFORM, "a platform is os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8");
export const DEFAULT_PLATFORM = "linux/amd64";

export const PullImageRequestSchema = z.strictObject({
  /** A registry reference: `name[:tag]`, `registry/ns/name:tag`, `name@sha256:...`. */
  reference: ImageNameSchema,
  platform: PlatformSchema.default(DEFAULT_PLATFORM),
});
export type PullImageRequest = z.input<typeof PullImageRequestSchema>;

/** Repeated `KEY=value` query values, as a list. */
const repeatedKeyValues = (what: string) =>
  z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .pipe(z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, `${what} are KEY=value`)));

/**
 * `POST /v1/images/build`: builds an image from a Dockerfile in a build context (a tar, plain or
 * gzip, as the request body) and stores it under `name` as an import would.
 */
export const BuildImageQuerySchema = z.strictObject({
  /** A name or name:tag (a plain name is `NAME:latest`). */
  name: ImageNameSchema,
  /** The Dockerfile's path inside the context. */
  dockerfile: z.string().min(1).max(4096).default("Dockerfile"),
  /** The stage to build (`docker build --target`); the last one if none. */
  target: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "a target is a stage name (FROM ... AS NAME)")
    .optional(),
  /** `ARG` values, repeated `buildArg=KEY=value`. */
  buildArg: repeatedKeyValues("build args"),
  /** The runtime of the sandbox the build runs in. */
  runtime: RuntimeSchema.optional(),
  /**
   * `all`: RUN steps reach the network (the builder sandbox gets egress "all", with the same
   * refusals as any sandbox's); `none` (the default): no network.
   */
  network: z.enum(["none", "all"]).default("none"),
});
export type BuildImageQuery = z.input<typeof BuildImageQuerySchema>;

/**
 * One line of the NDJSON stream of an image build or pull. A pull's progress lines carry the
 * bytes of its layers so far and in all, when known.
 */
export const ImageProgressSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("progress"),
    message: z.string(),
    completedBytes: z.number().optional(),
    totalBytes: z.number().optional(),
  }),
  /** A build's log as the builder prints it (its stdout and stderr, in order). */
  z.object({ type: z.literal("log"), data: z.string() }),
  z.object({ type: z.literal("done"), image: ImageSchema }),
  z.object({
    type: z.literal("error"),
    error: z.object({ code: ErrorCodeSchema, message: z.string() }),
  }),
]);
export type ImageProgress = z.infer<typeof ImageProgressSchema>;

/** A registry host and port, as `paddock registry login` takes it. */
export const RegistryHostSchema = z
  .string()
  .max(255)
  .regex(
    /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]{1,5})?$/,
    "a registry is host[:port], e.g. ghcr.io or 127.0.0.1:5000",
  );

export const RegistryLoginRequestSchema = z.strictObject({
  host: RegistryHostSchema,
  username: z.string().min(1).max(512),
  password: z
    .string()
    .min(1)
    .max(16 * 1024),
});

export const RegistrySchema = z.object({
  host: z.string(),
  /** Credentials are stored for it (they are never returned). */
  loggedIn: z.boolean(),
  /** Plain HTTP allowed (`paddock serve --insecure-registry`). */
  insecure: z.boolean(),
});
export type RegistryInfo = z.infer<typeof RegistrySchema>;
export const RegistryListSchema = z.object({ registries: z.array(RegistrySchema) });
export const RegistryHostParamsSchema = z.strictObject({ host: RegistryHostSchema });
