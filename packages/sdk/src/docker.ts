import {
  CommandOutputSchema,
  ComposeLogsRequestSchema,
  ComposeResultSchema,
  ComposeTargetSchema,
  ComposeUpRequestSchema,
  DockerLoadQuerySchema,
  DockerLoadRefQuerySchema,
  DockerLoadRefResultSchema,
  DockerRunRequestSchema,
  type CommandOutput,
  type ComposeUpRequest,
  type DockerLoadRefResult,
} from "@paddock/protocol";
import { z } from "zod";
import { checkArgument, InvalidResponseError, localError } from "./errors.js";
import type { HttpClient } from "./http.js";
import { openSource, type UploadSource } from "./sources.js";

const JsonObjectSchema = z.record(z.string(), z.unknown());

/**
 * Docker prints one JSON object per line for `--format json`; some versions print an array.
 * Anything else is an InvalidResponseError: docker's output comes from inside the sandbox.
 */
export function parseJsonLines(text: string): Record<string, unknown>[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const values = trimmed.startsWith("[")
    ? [parseJson(trimmed)].flat()
    : trimmed.split("\n").map((line) => parseJson(line));
  return values.map((value) => {
    const parsed = JsonObjectSchema.safeParse(value);
    if (parsed.success) return parsed.data;
    throw new InvalidResponseError(
      "invalid_response",
      `docker printed JSON that is not an object: ${JSON.stringify(value).slice(0, 200)}`,
      200,
    );
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidResponseError(
      "invalid_response",
      `docker printed a line that is not JSON: ${text.slice(0, 200)}`,
      200,
      undefined,
      { cause: err },
    );
  }
}

/**
 * A docker command that failed is reported like the daemon reports a failed compose up: an
 * invalid_request (what was asked cannot be done), its output in the details.
 */
function check(what: string, out: CommandOutput): CommandOutput {
  if (out.exitCode !== 0)
    throw localError(
      "invalid_request",
      `${what} failed (exit ${out.exitCode}): ${out.stderr.trim() || out.stdout.trim()}`,
      { exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr },
    );
  return out;
}

export type ComposeUpOptions = Omit<ComposeUpRequest, "path">;

/**
 * A compose project started with `composeUp`.
 *
 * @example
 * ```ts
 * const stack = await sandbox.docker.composeUp("/app/compose.yml");
 * console.log(await stack.ps(), await stack.logs("web"));
 * await stack.down();
 * ```
 */
export class ComposeStack {
  /** @internal */
  constructor(
    private readonly docker: Docker,
    readonly path: string,
    readonly projectName: string,
    readonly services: string[],
    readonly warnings: string[],
    readonly overridePath: string | null,
    /** Registry images the daemon pulled (unless stored) and loaded into Docker before `up`. */
    readonly loadedImages: string[] = [],
  ) {}

  /** The stack's containers (docker compose ps --all, parsed). */
  async ps(): Promise<Record<string, unknown>[]> {
    return this.docker.composePs(this.path, { projectName: this.projectName });
  }

  /** Logs of all services, or of one. */
  async logs(service?: string): Promise<string> {
    return this.docker.composeLogs(this.path, { projectName: this.projectName, service });
  }

  /** docker compose down: stops and removes the stack's containers. */
  async down(): Promise<void> {
    return this.docker.composeDown(this.path, { projectName: this.projectName });
  }
}

/**
 * Docker in a sandbox created with `docker: true`: `sandbox.docker`.
 *
 * @example
 * ```ts
 * const sandbox = await Sandbox.create({ docker: true });
 * await sandbox.docker.load("./busybox.tar", { importAs: "busybox:local" });
 * const out = await sandbox.docker.run("busybox:local", ["echo", "hi"]);
 * ```
 */
export class Docker {
  /** @internal */
  constructor(
    private readonly http: HttpClient,
    private readonly base: string,
  ) {}

  /**
   * `docker compose up -d` of a compose file in the sandbox. Under gVisor (and with
   * `hostNetwork: true`) an override gives every service host networking and maps service names
   * to 127.0.0.1, so services reach each other by name. Registry images the file names (services
   * without `build:`) that the sandbox's Docker lacks are pulled by the daemon, which has the
   * network and the registry credentials, and loaded first; one that cannot be pulled fails the
   * call before any container starts, naming the image.
   */
  async composeUp(path: string, options: ComposeUpOptions = {}): Promise<ComposeStack> {
    const json = { path, ...options };
    checkArgument(ComposeUpRequestSchema, json, "composeUp");
    const r = await this.http.json("POST", `${this.base}/compose/up`, ComposeResultSchema, {
      json,
    });
    return new ComposeStack(
      this,
      path,
      r.projectName,
      r.services,
      r.warnings,
      r.overridePath,
      r.loadedImages,
    );
  }

  private async compose(op: string, json: Record<string, unknown>): Promise<CommandOutput> {
    checkArgument(op === "logs" ? ComposeLogsRequestSchema : ComposeTargetSchema, json, op);
    return this.http.json("POST", `${this.base}/compose/${op}`, CommandOutputSchema, { json });
  }

  /** `docker compose down` of a project started from `path`. */
  async composeDown(path: string, options: { projectName?: string } = {}): Promise<void> {
    check("docker compose down", await this.compose("down", { path, ...options }));
  }

  /** The containers of a project started from `path` (docker compose ps --all, parsed). */
  async composePs(
    path: string,
    options: { projectName?: string } = {},
  ): Promise<Record<string, unknown>[]> {
    return parseJsonLines(
      check("docker compose ps", await this.compose("ps", { path, ...options })).stdout,
    );
  }

  /** Logs of a project started from `path`, or of one of its services. */
  async composeLogs(
    path: string,
    options: { projectName?: string; service?: string } = {},
  ): Promise<string> {
    return check("docker compose logs", await this.compose("logs", { path, ...options })).stdout;
  }

  /** All containers (docker ps --all, parsed). */
  async ps(): Promise<Record<string, unknown>[]> {
    return parseJsonLines(
      check("docker ps", await this.http.json("GET", `${this.base}/ps`, CommandOutputSchema))
        .stdout,
    );
  }

  /** Images in the sandbox's Docker (parsed). */
  async images(): Promise<Record<string, unknown>[]> {
    return parseJsonLines(
      check(
        "docker images",
        await this.http.json("GET", `${this.base}/images`, CommandOutputSchema),
      ).stdout,
    );
  }

  /** `docker run --rm IMAGE COMMAND...`; the exit code is in the result. */
  async run(
    image: string,
    command: string[] = [],
    options: { env?: Record<string, string> } = {},
  ): Promise<CommandOutput> {
    const json = { image, command, ...options };
    checkArgument(DockerRunRequestSchema, json, "run");
    return this.http.json("POST", `${this.base}/run`, CommandOutputSchema, { json });
  }

  /**
   * Loads an image into the sandbox's Docker: a registry image by reference (`{ ref }`), which
   * the daemon pulls into its store unless stored (with its registry credentials) and loads under
   * that name; or an archive from here, `docker load` of a `docker save` archive, or
   * `docker import` of a rootfs tarball with `importAs`. (A reference is passed as `{ ref }`
   * because a string is a local archive's path.)
   *
   * @example
   * ```ts
   * await sandbox.docker.load({ ref: "redis:7-alpine" });
   * await sandbox.docker.load("./app.tar");
   * ```
   */
  async load(image: { ref: string }): Promise<DockerLoadRefResult>;
  async load(archive: UploadSource, options?: { importAs?: string }): Promise<CommandOutput>;
  async load(
    source: UploadSource | { ref: string },
    options: { importAs?: string } = {},
  ): Promise<CommandOutput | DockerLoadRefResult> {
    if (isRefSource(source)) {
      const query = checkArgument(DockerLoadRefQuerySchema, { ref: source.ref }, "load");
      return this.http.json("POST", `${this.base}/load`, DockerLoadRefResultSchema, { query });
    }
    checkArgument(DockerLoadQuerySchema, { importAs: options.importAs }, "load");
    const { stream } = await openSource(source);
    return this.http.json("PUT", `${this.base}/load`, CommandOutputSchema, {
      body: stream,
      contentType: "application/x-tar",
      query: { importAs: options.importAs },
    });
  }
}

function isRefSource(source: UploadSource | { ref: string }): source is { ref: string } {
  return (
    typeof source === "object" &&
    !(source instanceof URL) &&
    !(source instanceof Uint8Array) &&
    "ref" in source &&
    typeof source.ref === "string"
  );
}
