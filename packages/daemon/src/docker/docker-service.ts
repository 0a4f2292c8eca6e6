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
import { PaddockError } from "../errors.js";
import { RUNTIME_PROFILES, type DockerProfile } from "../runtimes/index.js";
import type { PulledImages } from "../images/pulled-images.js";
import type { SandboxService } from "../sandboxes/sandbox-service.js";
import { hostNetworkOverride, parseComposeServices } from "./compose-override.js";
import { RegistryImages, stackImagesOf } from "./registry-images.js";

type ComposeTarget = z.output<typeof ComposeTargetSchema>;
type ComposeUp = z.output<typeof ComposeUpRequestSchema>;

const OVERRIDE_NAME = ".paddock-compose.override.yml";
const COMPOSE_TIMEOUT_MS = 10 * 60_000;
/** `docker compose config --format json` of a large stack is read whole. */
const CONFIG_OUTPUT_LIMIT = 16 * 1024 * 1024;

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
 * with the host-network override written through the agent, plus ps, images, run and load.
 * Every command runs through the agent inside the sandbox, never on the host. Registry images a
 * stack or `loadRef` needs are pulled by the daemon and loaded into the sandbox's Docker, which
 * has no network (RegistryImages); without `pulled` (unit tests) nothing is pulled.
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
   * Loads the registry images the stack runs (services without `build:`) that the sandbox's
   * Docker lacks, as compose will resolve them (same files, project and env); returns them.
   */
  private async provideImages(
    id: string,
    client: AgentClient,
    request: ComposeUp,
    files: string[],
  ): Promise<string[]> {
    if (!this.registryImages) return [];
    const config = await this.compose(
      client,
      request,
      files,
      ["config", "--format", "json"],
      request.env,
      CONFIG_OUTPUT_LIMIT,
    );
    if (config.exitCode !== 0) throw composeFailed("config", config);
    return this.registryImages.provide(client, stackImagesOf(config.stdout), (archive) =>
      this.load(id, archive),
    );
  }

  /** Checks the file, writes the override if host networking applies, loads the registry images it needs, then `up`. */
  async composeUp(id: string, request: ComposeUp): Promise<ComposeResult> {
    const { client, docker } = this.client(id);
    const text = (await client.readFile(request.path)).toString("utf8");
    const hostNetwork = request.hostNetwork ?? docker.hostNetwork;
    const overridePath = path.posix.join(path.posix.dirname(request.path), OVERRIDE_NAME);
    let files = ["-f", request.path];
    let services: string[];
    let warnings: string[] = [];
    if (hostNetwork) {
      const override = hostNetworkOverride(text);
      ({ services, warnings } = override);
      await client.writeFile(overridePath, override.yaml);
      files = [...files, "-f", overridePath];
    } else {
      services = parseComposeServices(text).services;
      await execCollect(client, { argv: ["rm", "-f", overridePath] });
    }
    const loadedImages = await this.provideImages(id, client, request, files);
    const args = ["up", ...(request.detach ? ["-d"] : []), ...(request.build ? ["--build"] : [])];
    const result = await this.compose(client, request, files, args, request.env);
    if (result.exitCode !== 0) throw composeFailed("up", result);
    return {
      projectName: request.projectName ?? defaultProject(request.path),
      services,
      overridePath: hostNetwork ? overridePath : null,
      warnings,
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
