import path from "node:path";
import type { Readable } from "node:stream";
import type { z } from "zod";
import type {
  CommandOutput,
  ComposeLogsRequestSchema,
  ComposeResult,
  ComposeTargetSchema,
  ComposeUpRequestSchema,
  DockerLoadRefResult,
  DockerRunRequestSchema,
} from "@paddock/protocol";
import type { AgentClient } from "../agent/client.js";
import { execCollect, type Collected } from "../agent/exec.js";
import { PaddockError, errorMessage } from "../errors.js";
import { RUNTIME_PROFILES, type DockerProfile } from "../runtimes/index.js";
import type { PulledImages } from "../images/pulled-images.js";
import type { SandboxService } from "../sandboxes/sandbox-service.js";
import {
  builtImage,
  dockerfileOf,
  parseComposeModel,
  stackImagesOf,
  type ComposeModel,
} from "./compose-model.js";
import { composeOverride, parseComposeServices } from "./compose-override.js";
import { RegistryImages } from "./registry-images.js";

type ComposeTarget = z.output<typeof ComposeTargetSchema>;
type ComposeUp = z.output<typeof ComposeUpRequestSchema>;

const OVERRIDE_NAME = ".paddock-compose.override.yml";
const COMPOSE_TIMEOUT_MS = 10 * 60_000;
/** `docker compose config --format json` of a large stack is read whole. */
const CONFIG_OUTPUT_LIMIT = 16 * 1024 * 1024;
/** Dockerfiles are read whole to find the images they build from. */
const DOCKERFILE_LIMIT = 1024 * 1024;

const output = (r: Collected): CommandOutput => ({
  exitCode: r.exitCode,
  stdout: r.stdout,
  stderr: r.stderr,
});

/** The default project name, as Compose derives it from the file's directory. */
function defaultProject(file: string): string {
  const base = path.posix
    .basename(path.posix.dirname(file))
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "");
  return /^[a-z0-9]/.test(base) ? base : `paddock${base}`;
}

/**
 * Docker inside a sandbox, for the API (and so for the SDK and the CLI, which call it): compose
 * with an override written through the agent (host networking, pull policies), plus ps, images,
 * run and load. Every command runs through the agent inside the sandbox, never on the host.
 * Registry images a stack (its services and its Dockerfiles' FROMs) or `loadRef` needs are pulled
 * by the daemon and loaded into the sandbox's Docker, which has no network (RegistryImages);
 * without `pulled` (unit tests) nothing is pulled.
 */
export class DockerService {
  private readonly registryImages?: RegistryImages;

  constructor(
    private readonly sandboxes: SandboxService,
    pulled?: PulledImages,
  ) {
    if (pulled) this.registryImages = new RegistryImages(pulled);
  }

  /** The sandbox's agent, and how Docker behaves under its runtime. */
  private client(id: string): { client: AgentClient; docker: DockerProfile } {
    const record = this.sandboxes.get(id);
    if (!record.docker)
      throw new PaddockError(
        "invalid_request",
        `sandbox ${id} has no Docker engine: create it with docker: true`,
      );
    return { client: this.sandboxes.agent(id), docker: RUNTIME_PROFILES[record.runtime].docker };
  }

  private async composeFiles(client: AgentClient, file: string): Promise<string[]> {
    const override = path.posix.join(path.posix.dirname(file), OVERRIDE_NAME);
    const hasOverride = await client.readFile(override, 1024 * 1024).then(
      () => true,
      () => false,
    );
    return hasOverride ? ["-f", file, "-f", override] : ["-f", file];
  }

  private compose(
    client: AgentClient,
    target: ComposeTarget,
    files: string[],
    args: string[],
    env?: Record<string, string>,
    outputLimit = 256 * 1024,
  ) {
    const project = target.projectName ?? defaultProject(target.path);
    return execCollect(
      client,
      {
        argv: ["docker", "compose", ...files, "-p", project, ...args],
        cwd: path.posix.dirname(target.path),
        env,
        timeoutMs: COMPOSE_TIMEOUT_MS,
      },
      { outputLimit },
    );
  }

  /**
   * The stack as compose resolves it (same file, project and env as `up`); without the override,
   * which changes no image, build or pull policy the daemon reads.
   */
  private async composeModel(client: AgentClient, request: ComposeUp): Promise<ComposeModel> {
    const config = await this.compose(
      client,
      request,
      ["-f", request.path],
      ["config", "--format", "json"],
      request.env,
      CONFIG_OUTPUT_LIMIT,
    );
    if (config.exitCode !== 0) throw composeFailed("config", config);
    return parseComposeModel(config.stdout);
  }

  /**
   * The Dockerfiles of the services compose will build: with `--build`, under
   * `pull_policy: build`, or when the sandbox's Docker lacks the image the build makes.
   */
  private async dockerfiles(
    client: AgentClient,
    registry: RegistryImages,
    model: ComposeModel,
    rebuild: boolean,
  ): Promise<Map<string, string>> {
    const texts = new Map<string, string>();
    for (const svc of model.services) {
      const build = svc.build;
      if (!build) continue;
      if (
        !rebuild &&
        svc.pullPolicy !== "build" &&
        (await registry.has(client, builtImage(model, svc)))
      )
        continue;
      if (build.dockerfileInline !== undefined) {
        texts.set(svc.name, build.dockerfileInline);
        continue;
      }
      const text = await client
        .readFile(build.dockerfile!, DOCKERFILE_LIMIT)
        .catch((err: unknown) => {
          throw new PaddockError(
            "invalid_request",
            `${dockerfileOf(svc)} cannot be read (${errorMessage(err)}): check its build.context and build.dockerfile`,
            { service: svc.name, path: build.dockerfile },
            { cause: err },
          );
        });
      texts.set(svc.name, text.toString("utf8"));
    }
    return texts;
  }

  /**
   * Checks the file; loads the registry images its services run and its Dockerfiles build from
   * (pulled by the daemon); writes the override (host networking, pull policies) or removes a
   * stale one; then `up`.
   */
  async composeUp(id: string, request: ComposeUp): Promise<ComposeResult> {
    const { client, docker } = this.client(id);
    const text = (await client.readFile(request.path)).toString("utf8");
    const { services } = parseComposeServices(text);
    const hostNetwork = request.hostNetwork ?? docker.hostNetwork;
    const model = await this.composeModel(client, request);
    const registry = this.registryImages;
    const images = registry
      ? stackImagesOf(model, await this.dockerfiles(client, registry, model, request.build))
      : [];
    const overridePath = path.posix.join(path.posix.dirname(request.path), OVERRIDE_NAME);
    const override = composeOverride(text, {
      hostNetwork,
      builds: model.services.filter((s) => s.builds).map((s) => s.name),
      // Compose would pull these itself, and the sandbox has no network: the daemon does.
      pullMissing: registry
        ? model.services.filter((s) => s.pullPolicy === "always").map((s) => s.name)
        : [],
    });
    if (override) await client.writeFile(overridePath, override.yaml);
    else await execCollect(client, { argv: ["rm", "-f", overridePath] });
    const files = override ? ["-f", request.path, "-f", overridePath] : ["-f", request.path];
    const loadedImages = registry
      ? await registry.provide(client, images, (archive) => this.load(id, archive))
      : [];
    const args = ["up", ...(request.detach ? ["-d"] : []), ...(request.build ? ["--build"] : [])];
    const result = await this.compose(client, request, files, args, request.env);
    if (result.exitCode !== 0) throw composeFailed("up", result);
    return {
      projectName: request.projectName ?? defaultProject(request.path),
      services,
      overridePath: override ? overridePath : null,
      warnings: override?.warnings ?? [],
      loadedImages,
      output: result.stderr + result.stdout,
    };
  }

  async composeRun(id: string, target: ComposeTarget, args: string[]): Promise<CommandOutput> {
    const { client } = this.client(id);
    return output(
      await this.compose(client, target, await this.composeFiles(client, target.path), args),
    );
  }

  composeDown(id: string, target: ComposeTarget): Promise<CommandOutput> {
    return this.composeRun(id, target, ["down", "--remove-orphans"]);
  }

  composePs(id: string, target: ComposeTarget): Promise<CommandOutput> {
    return this.composeRun(id, target, ["ps", "--all", "--format", "json"]);
  }

  composeLogs(
    id: string,
    request: z.output<typeof ComposeLogsRequestSchema>,
  ): Promise<CommandOutput> {
    return this.composeRun(id, request, [
      "logs",
      "--no-color",
      ...(request.service ? [request.service] : []),
    ]);
  }

  async docker(id: string, args: string[], env?: Record<string, string>): Promise<CommandOutput> {
    const { client } = this.client(id);
    return output(
      await execCollect(
        client,
        { argv: ["docker", ...args], env, timeoutMs: COMPOSE_TIMEOUT_MS },
        { outputLimit: 256 * 1024 },
      ),
    );
  }

  /** `docker run --rm`; on the host network where the runtime's Docker has no nested bridges. */
  run(id: string, request: z.output<typeof DockerRunRequestSchema>): Promise<CommandOutput> {
    const { docker } = this.client(id);
    const network = docker.hostNetwork ? ["--network", "host"] : [];
    const envArgs = Object.keys(request.env ?? {}).flatMap((k) => ["-e", k]);
    return this.docker(
      id,
      ["run", "--rm", ...network, ...envArgs, "--", request.image, ...request.command],
      request.env,
    );
  }

  /** Streams an image archive into `docker load`, or a rootfs tarball into `docker import`. */
  async load(id: string, archive: Readable, importAs?: string): Promise<CommandOutput> {
    const { client } = this.client(id);
    const argv = importAs ? ["docker", "import", "-", importAs] : ["docker", "load"];
    const result = await execCollect(
      client,
      { argv, timeoutMs: COMPOSE_TIMEOUT_MS },
      { stdin: archive },
    );
    if (result.exitCode !== 0) {
      throw new PaddockError(
        "invalid_request",
        `${argv.slice(0, 2).join(" ")} failed: ${tail(result.stderr || result.stdout)}`,
      );
    }
    return output(result);
  }

  /**
   * Pulls a registry image into the daemon's store (unless stored) and loads it into the
   * sandbox's Docker under `ref`, which must carry a tag.
   */
  loadRef(id: string, ref: string): Promise<DockerLoadRefResult> {
    this.client(id);
    if (!this.registryImages)
      throw new PaddockError("internal", "this daemon has no store for registry images");
    return this.registryImages.loadRef(ref, (archive) => this.load(id, archive));
  }
}

function composeFailed(what: string, result: Collected): PaddockError {
  return new PaddockError(
    "invalid_request",
    `docker compose ${what} failed (exit ${result.exitCode}): ${tail(result.stderr || result.stdout)}`,
    { stdout: result.stdout, stderr: result.stderr },
  );
}

const tail = (text: string) => text.trim().split("\n").slice(-10).join("\n");
