import type { Readable } from "node:stream";
import { formatReference, parseReference, type CommandOutput } from "@paddock/protocol";
import type { AgentClient } from "../agent/client.js";
import { execCollect } from "../agent/exec.js";
import { PaddockError, errorMessage } from "../errors.js";
import { exportDockerArchive } from "../images/archive-export.js";
import type { PulledImage, PulledImages } from "../images/pulled-images.js";
import { describeUses, type StackImage } from "./compose-model.js";

/** Streams an archive into the sandbox's `docker load`. */
export type LoadArchive = (archive: Readable) => Promise<CommandOutput>;

/**
 * Registry images for a sandbox's Docker engine, which has no network: the daemon pulls them
 * into its own store (with its stored credentials and plain-HTTP settings), exports them as
 * `docker save` archives and streams those into `docker load` in the sandbox.
 */
export class RegistryImages {
  constructor(private readonly pulled: PulledImages) {}

  /** Whether the sandbox's Docker has an image by this name. */
  async has(client: AgentClient, image: string): Promise<boolean> {
    const r = await execCollect(client, {
      argv: ["docker", "image", "inspect", "--format", "{{.Id}}", "--", image],
      timeoutMs: 30_000,
    });
    return r.exitCode === 0;
  }

  /**
   * Loads the images of a stack that the sandbox's Docker lacks, and those to be pulled always
   * (asking the registry again). Every image is pulled before any is loaded, so a stack naming
   * one that cannot be pulled fails before anything changes in the sandbox. Returns the images
   * loaded.
   */
  async provide(
    client: AgentClient,
    images: StackImage[],
    loadArchive: LoadArchive,
  ): Promise<string[]> {
    const present = await Promise.all(images.map((s) => !s.always && this.has(client, s.image)));
    const needed = images.filter((_, i) => !present[i]);
    const pulled: { image: string; stored: PulledImage }[] = [];
    for (const { image, uses, always } of needed) {
      const usedBy = describeUses(uses);
      const tag = dockerTag(image, `image "${image}" of ${usedBy}`, true);
      pulled.push({ image: tag, stored: await this.fetch(image, usedBy, always) });
    }
    for (const { image, stored } of pulled) await this.load(stored, image, loadArchive);
    return needed.map((s) => s.image);
  }

  /** Pulls `image` (unless stored) and loads it under its name; for `docker.load(ref)`. */
  async loadRef(
    image: string,
    loadArchive: LoadArchive,
  ): Promise<{ image: string; digest: string; output: string }> {
    const tag = dockerTag(image, `"${image}"`, false);
    const stored = await this.fetch(image);
    const out = await this.load(stored, tag, loadArchive);
    return { image, digest: stored.meta.digest, output: out.stdout + out.stderr };
  }

  /**
   * The stored image `image` names, pulled when there is none or when `always` (then the registry
   * is asked which digest the tag names now); errors name the image.
   */
  private async fetch(image: string, usedBy?: string, always = false): Promise<PulledImage> {
    try {
      return await (always ? this.pulled.pull(image) : this.pulled.ensure(image));
    } catch (err) {
      if (!(err instanceof PaddockError)) throw err;
      throw new PaddockError(
        err.code,
        `image "${image}"${usedBy ? ` of ${usedBy}` : ""} cannot be pulled: ${err.message}`,
        { ...err.details, image },
        { cause: err, hostDetails: err.hostDetails },
      );
    }
  }

  /**
   * Streams the image into `docker load` as `tag`. When both fail, skopeo's own failure is the
   * cause (docker load then read a cut archive), unless skopeo only lost its reader.
   */
  private async load(
    stored: PulledImage,
    tag: string,
    loadArchive: LoadArchive,
  ): Promise<CommandOutput> {
    const exported = await exportDockerArchive(this.pulled, stored, tag);
    const [loaded, done] = await Promise.allSettled([
      loadArchive(exported.stream).catch((err: unknown) => {
        exported.abort();
        throw err;
      }),
      exported.done,
    ]);
    if (loaded.status === "fulfilled") {
      if (done.status === "rejected") throw done.reason;
      return loaded.value;
    }
    const exportFailed =
      done.status === "rejected" &&
      done.reason instanceof PaddockError &&
      done.reason.details?.readerGone !== true;
    throw exportFailed ? done.reason : loaded.reason;
  }
}

/**
 * The name `docker load` gives the image: the reference with its tag (`latest` if none), which
 * Docker shortens back to the way the file writes it (`docker.io/library/redis:7` is
 * `redis:7`). A digest cannot be kept (Docker records one only for what it pulled itself): for
 * compose (`pinned`) such an image would still be pulled by compose, so it is refused.
 */
function dockerTag(image: string, what: string, refusePinned: boolean): string {
  let ref;
  try {
    ref = parseReference(image);
  } catch (err) {
    throw new PaddockError("invalid_request", `${what}: ${errorMessage(err)}`, { image });
  }
  if (ref.digest && (refusePinned || ref.tag === undefined)) {
    throw new PaddockError(
      "invalid_request",
      `${what} is pinned by digest, but Docker knows an image loaded into it by its tag only; name it by tag (NAME:TAG)`,
      { image },
    );
  }
  return formatReference({ ...ref, digest: undefined });
}
