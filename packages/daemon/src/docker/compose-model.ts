import path from "node:path";
import { z } from "zod";
import { formatReference, parseReference } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import { dockerfileImages } from "../images/dockerfile-images.js";

/** A service's `build:` section whose context is a directory in the sandbox. */
export interface ComposeBuild {
  context: string;
  /** The Dockerfile's absolute path; none when the file writes it inline. */
  dockerfile?: string;
  dockerfileInline?: string;
  /** Build args with a value (compose drops unset ones; a null is left to the ARG's default). */
  args: Record<string, string>;
  target?: string;
}

export interface ComposeService {
  name: string;
  image?: string;
  /** Whether the service has a `build:` section (also one this daemon cannot read). */
  builds: boolean;
  /** The `build:` section when its context is a local directory. */
  build?: ComposeBuild;
  pullPolicy?: string;
}

/** The stack as `docker compose config --format json` prints it. */
export interface ComposeModel {
  project: string;
  services: ComposeService[];
}

const ComposeConfigSchema = z.object({
  name: z.string().default(""),
  services: z
    .record(
      z.string(),
      z.object({
        image: z.string().optional(),
        build: z
          .object({
            context: z.string().optional(),
            dockerfile: z.string().optional(),
            dockerfile_inline: z.string().optional(),
            args: z.record(z.string(), z.string().nullable()).optional(),
            target: z.string().optional(),
          })
          .optional(),
        pull_policy: z.string().optional(),
      }),
    )
    .default({}),
});

/**
 * Reads `docker compose config --format json`: interpolated, merged (also `extends`), only the
 * services of the active profiles, every `build:` in its long form with an absolute context.
 */
export function parseComposeModel(configJson: string): ComposeModel {
  let parsed: z.infer<typeof ComposeConfigSchema>;
  try {
    parsed = ComposeConfigSchema.parse(JSON.parse(configJson));
  } catch (err) {
    throw new PaddockError(
      "runtime_error",
      `docker compose config printed no compose model the daemon can read: ${errorMessage(err).slice(0, 300)}`,
    );
  }
  const services = Object.entries(parsed.services).map(([name, svc]): ComposeService => {
    const build = svc.build;
    // A URL or git context is fetched by the build itself; only a directory can be read here.
    const local = build?.context?.startsWith("/") ? build.context : undefined;
    return {
      name,
      ...(svc.image !== undefined && { image: svc.image }),
      builds: build !== undefined,
      ...(build &&
        local && {
          build: {
            context: local,
            ...(build.dockerfile_inline === undefined && {
              dockerfile: path.posix.resolve(local, build.dockerfile ?? "Dockerfile"),
            }),
            ...(build.dockerfile_inline !== undefined && {
              dockerfileInline: build.dockerfile_inline,
            }),
            args: Object.fromEntries(
              Object.entries(build.args ?? {}).filter(
                (arg): arg is [string, string] => arg[1] !== null,
              ),
            ),
            ...(build.target !== undefined && { target: build.target }),
          },
        }),
      ...(svc.pull_policy !== undefined && { pullPolicy: svc.pull_policy }),
    };
  });
  return { project: parsed.name, services };
}

/** The name compose tags a service's build with: its `image:`, else `PROJECT-SERVICE`. */
export const builtImage = (model: ComposeModel, service: ComposeService): string =>
  service.image ?? `${model.project}-${service.name}`;

/** One service's use of an image, for messages. */
export interface ImageUse {
  service: string;
  /** Set when the service's Dockerfile builds from the image. */
  dockerfile?: { line: number; instruction: string };
}

/** An image a compose stack needs from a registry, and who needs it. */
export interface StackImage {
  /** As the compose file or Dockerfile writes it: Docker must know it by this name. */
  image: string;
  uses: ImageUse[];
  /** A service runs it with `pull_policy: always`: pulled again and loaded even if Docker has it. */
  always: boolean;
}

/** Policies under which compose never pulls the image: it builds it, or must find it. */
const NO_PULL = new Set(["build", "never"]);

/**
 * The registry images a stack needs: those of services without `build:` (unless their pull
 * policy says compose never pulls), and those the given Dockerfiles build from (`dockerfiles`,
 * by service), except images the stack builds itself.
 */
export function stackImagesOf(
  model: ComposeModel,
  dockerfiles: ReadonlyMap<string, string> = new Map(),
): StackImage[] {
  const byImage = new Map<string, StackImage>();
  const add = (image: string, use: ImageUse, always = false) => {
    const entry = byImage.get(image) ?? { image, uses: [], always: false };
    entry.uses.push(use);
    entry.always ||= always;
    byImage.set(image, entry);
  };
  for (const svc of model.services) {
    if (!svc.image || svc.builds) continue;
    if (svc.pullPolicy && NO_PULL.has(svc.pullPolicy)) continue;
    add(svc.image, { service: svc.name }, svc.pullPolicy === "always");
  }
  const built = new Set(
    model.services.filter((s) => s.builds).map((s) => normalized(builtImage(model, s))),
  );
  for (const svc of model.services) {
    const text = dockerfiles.get(svc.name);
    if (text === undefined || !svc.build) continue;
    for (const { image, line, instruction } of dockerfileAt(svc, text)) {
      if (built.has(normalized(image))) continue;
      add(image, { service: svc.name, dockerfile: { line, instruction } });
    }
  }
  return [...byImage.values()]
    .map((s) => ({ ...s, uses: s.uses.sort((a, b) => a.service.localeCompare(b.service)) }))
    .sort((a, b) => a.image.localeCompare(b.image));
}

/** The images a service's Dockerfile builds from; its errors name the service and the file. */
function dockerfileAt(svc: ComposeService, text: string) {
  try {
    return dockerfileImages(text, svc.build?.args, svc.build?.target);
  } catch (err) {
    if (!(err instanceof PaddockError)) throw err;
    throw new PaddockError(
      err.code,
      `${dockerfileOf(svc)}: ${err.message}`,
      { ...err.details, service: svc.name },
      { cause: err },
    );
  }
}

/** `service "app"'s Dockerfile /app/Dockerfile` (or `inline Dockerfile`), for messages. */
export const dockerfileOf = (svc: ComposeService): string =>
  `service ${JSON.stringify(svc.name)}'s ${svc.build?.dockerfile ? `Dockerfile ${svc.build.dockerfile}` : "inline Dockerfile"}`;

/** One spelling per image for comparing names (`redis` is `docker.io/library/redis:latest`). */
function normalized(image: string): string {
  try {
    return formatReference(parseReference(image));
  } catch {
    return image;
  }
}

/** `service "a"`, `services "a", "b"`, `service "app"'s Dockerfile (FROM, line 3)`: for messages. */
export function describeUses(uses: ImageUse[]): string {
  const running = uses.filter((u) => !u.dockerfile).map((u) => JSON.stringify(u.service));
  const parts = running.length
    ? [`service${running.length > 1 ? "s" : ""} ${running.join(", ")}`]
    : [];
  for (const { service, dockerfile } of uses) {
    if (dockerfile)
      parts.push(
        `service ${JSON.stringify(service)}'s Dockerfile (${dockerfile.instruction}, line ${dockerfile.line})`,
      );
  }
  return parts.join(" and ");
}
