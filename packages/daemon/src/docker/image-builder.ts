import { createReadStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import type { z } from "zod";
import {
  CreateSandboxRequestSchema,
  type BuildImageQuerySchema,
  type ImageInfo,
  type ImageProgress,
} from "@paddock/protocol";
import { execCollect } from "../agent/exec.js";
import { PaddockError, errorMessage } from "../errors.js";
import { importImage, receive, refuseTaken, workDir } from "../images/archive-import.js";
import { dockerfileImages } from "../images/dockerfile-images.js";
import type { ImageService } from "../images/image-service.js";
import { readMember, readTarIndex, resolveMember } from "../images/tar-index.js";
import type { Logger } from "../logger.js";
import type { Caller } from "../sandboxes/create-policy.js";
import type { SandboxService } from "../sandboxes/sandbox-service.js";
import type { DockerService } from "./docker-service.js";

export type BuildRequest = z.output<typeof BuildImageQuerySchema>;

/** The builder sandbox: room for Docker's layers and a build's compilers. */
const BUILDER = { cpu: 2, memoryMiB: 2048, timeoutSeconds: 3600 };
const BUILD_TIMEOUT_MS = 55 * 60_000;
const DOCKERFILE_LIMIT = 1024 * 1024;
/** Where the built image is saved inside the builder before it is streamed out. */
const SAVED = "/tmp/paddock-built-image.tar";
const TAG = "paddock-build:latest";
/** Docker's notice that the legacy builder is deprecated: its own choice, not the user's concern. */
const LEGACY_NOTICE =
  /^DEPRECATED: The legacy builder is deprecated[^]*?DOCKER_BUILDKIT=0\s+environment-variable\.\n*/;

/**
 * Dockerfile builds, never run as root on the host: the context (a tar upload) is written to a
 * work dir in the image store; the images its Dockerfile builds from are pulled by the daemon
 * (with its registry credentials) before anything else is made; then a throwaway Docker sandbox
 * gets them loaded, runs the legacy builder (`docker build`, real Dockerfile semantics; RUN
 * steps without network) on the context streamed to its stdin, and `docker save`s the result,
 * which is stored like an imported archive under the name asked. The sandbox and the work dir
 * go whatever happens; the client leaving ends the build.
 */
export class ImageBuilder {
  constructor(
    private readonly images: ImageService,
    private readonly sandboxes: SandboxService,
    private readonly docker: DockerService,
    private readonly log: Logger,
  ) {}

  async build(
    request: BuildRequest,
    context: Readable,
    caller: Caller,
    emit: (line: ImageProgress) => void,
    signal: AbortSignal,
  ): Promise<ImageInfo> {
    await refuseTaken(this.images, request.name).catch((err: unknown) => {
      // The client is still sending: its context is read to the end, unused, so it gets the error.
      context.resume();
      throw err;
    });
    const progress = (message: string) => emit({ type: "progress", message });
    const tmp = workDir(this.images, "build");
    let sandboxId: string | undefined;
    const stop = () => {
      if (sandboxId) void this.sandboxes.terminate(sandboxId, "the build's client went away");
    };
    signal.addEventListener("abort", stop, { once: true });
    try {
      await mkdir(tmp, { recursive: true });
      progress("receiving the build context");
      const contextFile = path.join(tmp, "context.tar");
      await receive(context, contextFile, "build context");
      const buildArgs = Object.fromEntries(
        request.buildArg.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
      );
      const text = await readDockerfile(contextFile, request.dockerfile);
      const needed = dockerfileImages(text, buildArgs, request.target);
      // Pulled before any sandbox is made: an image that cannot be pulled fails the build early.
      for (const { image, line } of needed) {
        progress(`pulling ${image} (Dockerfile line ${line})`);
        await this.images.pulled.ensure(image).catch((err: unknown) => {
          throw namedImageError(err, image, line);
        });
      }
      checkAborted(signal);
      progress("starting the builder sandbox");
      const sandbox = await this.sandboxes.create(
        CreateSandboxRequestSchema.parse({
          ...BUILDER,
          docker: true,
          runtime: request.runtime,
          labels: { "paddock.build": request.name.slice(0, 256) },
          network: { egress: request.network },
        }),
        caller,
      );
      sandboxId = sandbox.id;
      checkAborted(signal);
      for (const { image } of needed) {
        progress(`loading ${image} into the builder`);
        await this.docker.loadRef(sandbox.id, image);
      }
      progress("building");
      const client = this.sandboxes.agent(sandbox.id);
      const built = await execCollect(
        client,
        {
          argv: [
            "docker",
            "build",
            // The builder's own network (none unless asked for), shared with RUN steps.
            `--network=${request.network === "all" ? "host" : "none"}`,
            "--force-rm",
            "-t",
            TAG,
            "-f",
            request.dockerfile,
            ...(request.target ? ["--target", request.target] : []),
            ...request.buildArg.flatMap((kv) => ["--build-arg", kv]),
            "-",
          ],
          // The legacy builder: BuildKit needs the buildx plugin, and pulls on its own.
          env: { DOCKER_BUILDKIT: "0" },
          timeoutMs: BUILD_TIMEOUT_MS,
        },
        {
          stdin: createReadStream(contextFile),
          onOutput: (stream, data) => {
            const text = stream === "stderr" ? data.replace(LEGACY_NOTICE, "") : data;
            if (text) emit({ type: "log", data: text });
          },
        },
      );
      checkAborted(signal);
      if (built.exitCode !== 0) {
        throw new PaddockError(
          "image_build_failed",
          `the build failed (${built.timedOut ? "timed out" : `exit ${built.exitCode ?? built.signal}`}): ${lastLines(built.stderr.replace(LEGACY_NOTICE, "") || built.stdout)}`,
        );
      }
      progress("saving the image");
      const saved = await execCollect(client, {
        argv: ["docker", "save", "-o", SAVED, TAG],
        timeoutMs: BUILD_TIMEOUT_MS,
      });
      if (saved.exitCode !== 0)
        throw new PaddockError(
          "image_build_failed",
          `docker save failed: ${lastLines(saved.stderr || saved.stdout)}`,
        );
      progress(`storing the image as ${request.name}`);
      return await importImage(this.images, request.name, await client.download(SAVED, signal));
    } catch (err) {
      if (signal.aborted) throw aborted();
      throw err;
    } finally {
      signal.removeEventListener("abort", stop);
      if (sandboxId) {
        await this.sandboxes
          .terminate(sandboxId)
          .catch((err: unknown) =>
            this.log.warn(
              { id: sandboxId, err: errorMessage(err) },
              "removing a builder sandbox failed",
            ),
          );
      }
      await rm(tmp, { recursive: true, force: true });
    }
  }
}

/** The Dockerfile at `name` in the context tar (a relative path, links inside followed). */
async function readDockerfile(contextFile: string, name: string): Promise<string> {
  const normal = path.posix.normalize(name);
  if (path.posix.isAbsolute(normal) || normal.startsWith("../") || normal === "..") {
    throw new PaddockError(
      "invalid_request",
      `the Dockerfile "${name}" lies outside the build context; name its path inside the context`,
    );
  }
  const index = await readTarIndex(contextFile);
  if (index.notTar || index.truncated)
    throw new PaddockError(
      "invalid_request",
      "the build context is not a whole tar archive: send the context directory as a tar (plain or gzip)",
    );
  const member = resolveMember(index, normal);
  if (!member)
    throw new PaddockError(
      "invalid_request",
      `the build context has no Dockerfile at "${name}"; name it with -f (dockerfile)`,
    );
  if (member.size > DOCKERFILE_LIMIT)
    throw new PaddockError("invalid_request", `the Dockerfile is over ${DOCKERFILE_LIMIT} bytes`);
  return (await readMember(contextFile, member, DOCKERFILE_LIMIT)).toString("utf8");
}

function namedImageError(err: unknown, image: string, line: number): unknown {
  if (!(err instanceof PaddockError)) return err;
  return new PaddockError(
    err.code,
    `image "${image}" (Dockerfile line ${line}) cannot be pulled: ${err.message}`,
    { ...err.details, image, line },
    { cause: err, hostDetails: err.hostDetails },
  );
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw aborted();
}

const aborted = () =>
  new PaddockError("image_build_failed", "the build was cancelled: its client went away");

const lastLines = (text: string) => text.trim().split("\n").slice(-10).join("\n");
