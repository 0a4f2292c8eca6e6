import { z } from "zod";
import { EnvSchema } from "./sandbox.js";
import { SandboxPathSchema } from "./files.js";
import { parseReference } from "./image-reference.js";

/** Compose project names as Docker Compose accepts them. */
export const ProjectNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "project names are lowercase letters, digits, '_' and '-'");

export const ComposeTargetSchema = z.strictObject({
  /** The compose file, inside the sandbox. */
  path: SandboxPathSchema,
  projectName: ProjectNameSchema.optional(),
});

export const ComposeUpRequestSchema = ComposeTargetSchema.extend({
  env: EnvSchema.optional(),
  build: z.boolean().default(false),
  detach: z.boolean().default(true),
  /**
   * Give every service host networking and map service names to 127.0.0.1. Default: on under
   * runsc (gVisor has no bridge networking for nested containers), off under runc.
   */
  hostNetwork: z.boolean().optional(),
});
export type ComposeUpRequest = z.input<typeof ComposeUpRequestSchema>;

export const ComposeLogsRequestSchema = ComposeTargetSchema.extend({
  service: z.string().max(128).optional(),
});

export const ComposeResultSchema = z.object({
  projectName: z.string(),
  services: z.array(z.string()),
  /** The override written beside the compose file: with host networking, or for services with `pull_policy: always`. */
  overridePath: z.string().nullable(),
  warnings: z.array(z.string()),
  /**
   * Registry images the sandbox's Docker lacked, pulled by the daemon (unless stored) and loaded
   * before `up`, by the names the file writes.
   */
  loadedImages: z.array(z.string()).default([]),
  output: z.string(),
});
export type ComposeResult = z.infer<typeof ComposeResultSchema>;

export const CommandOutputSchema = z.object({
  exitCode: z.number().nullable(),
  stdout: z.string(),
  stderr: z.string(),
});
export type CommandOutput = z.infer<typeof CommandOutputSchema>;

export const DockerRunRequestSchema = z.strictObject({
  image: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[^\s-][^\s]*$/, "an image reference has no spaces and does not start with '-'"),
  command: z.array(z.string()).max(4096).default([]),
  env: EnvSchema.optional(),
});

export const DockerLoadQuerySchema = z.strictObject({
  /** Import a plain rootfs tarball as this image (docker import); without it, docker load. */
  importAs: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?$/,
      "importAs is an image name like busybox:local",
    )
    .optional(),
});

/**
 * A registry image to load into a sandbox's Docker, as Docker writes it (`redis:7-alpine`,
 * `127.0.0.1:5000/team/app:1`). It needs a tag: `docker load` knows an image by its tag only.
 */
export const DockerImageRefSchema = z
  .string()
  .max(512, "image references are at most 512 characters")
  .superRefine((value, ctx) => {
    try {
      if (parseReference(value).tag === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `"${value}" names no tag; Docker knows a loaded image by its tag only, so name one (NAME:TAG)`,
        });
      }
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  });

export const DockerLoadRefQuerySchema = z.strictObject({ ref: DockerImageRefSchema });

export const DockerLoadRefResultSchema = z.object({
  /** The name Docker knows the image by now (the reference as asked). */
  image: z.string(),
  /** The registry's manifest digest of the image loaded. */
  digest: z.string(),
  /** What docker load printed. */
  output: z.string(),
});
export type DockerLoadRefResult = z.infer<typeof DockerLoadRefResultSchema>;
