import path from "node:path";
import {
  BUILTIN_IMAGES,
  DEFAULT_REGISTRY,
  IMAGE_NAME,
  type ImageConfig,
  type ImageInfo,
} from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import type { Progress } from "./builtin.js";
import type { ImageStore } from "./image-store.js";
import type { PullProgress } from "./puller.js";
import { PulledImages } from "./pulled-images.js";
import { Registries } from "./registries.js";

/** What a new sandbox runs: its image as recorded, the root filesystem and the image's config. */
export interface ResolvedImage {
  /** A local image's name, or a pulled one's reference pinned to its digest (`ref@sha256:...`). */
  image: string;
  config?: ImageConfig;
}

/**
 * Every image a sandbox can start from: built-in and imported ones by name (ImageStore) and
 * images pulled from registries by reference (PulledImages). A bare name (`busybox`, `my-app`)
 * is local, or else the Docker Hub image of that name if it was pulled; anything with a tag,
 * digest or registry (`python:3.12`, `ghcr.io/o/a`) is a reference, pulled on first use.
 */
export class ImageService {
  readonly pulled: PulledImages;

  /** Without `pulled` (unit tests): pulls keep their credentials in the image store. */
  constructor(
    readonly local: ImageStore,
    pulled?: PulledImages,
  ) {
    this.pulled =
      pulled ?? new PulledImages(local.dir, new Registries(path.join(local.dir, ".auth.json")));
  }

  /** Cleans what an interrupted pull or a removal left; called once at daemon start. */
  start(): Promise<void> {
    return this.pulled.collect();
  }

  async list(): Promise<ImageInfo[]> {
    return [...(await this.local.list()), ...(await this.pulled.list())];
  }

  async describe(name: string): Promise<ImageInfo> {
    if (IMAGE_NAME.test(name)) {
      const local = await this.local.get(name);
      if (local) return local;
    }
    const pulled = await this.pulled.describe(name);
    if (pulled) return pulled;
    throw notFound(name);
  }

  /**
   * Resolves an image for a new sandbox and runs `claim` (which records the sandbox) while no
   * removal can run: see ImageStore.use and PulledImages.claim. A reference not stored is
   * pulled first (linux/amd64); a bare name never is.
   */
  async use<T>(
    name: string,
    progress: Progress,
    claim: (resolved: ResolvedImage) => T,
  ): Promise<{ rootfs: string; config?: ImageConfig; claimed: T }> {
    if (await this.isLocal(name)) {
      const { rootfs, claimed } = await this.local.use(name, progress, () =>
        claim({ image: name }),
      );
      return { rootfs, claimed };
    }
    const pullProgress: PullProgress = (p) => progress(p.message);
    const image = IMAGE_NAME.test(name)
      ? await this.pulledByBareName(name)
      : await this.pulled.ensure(name, pullProgress);
    const claimed = await this.pulled.claim(image, () =>
      claim({ image: image.image, config: image.meta.config }),
    );
    return { rootfs: image.rootfs, config: image.meta.config, claimed };
  }

  async remove(name: string): Promise<void> {
    if (await this.isLocal(name)) return this.local.remove(name);
    if (IMAGE_NAME.test(name) && !(await this.pulled.describe(name))) throw notFound(name);
    return this.pulled.remove(name);
  }

  /** Pulls a reference (always asking the registry) and describes the stored image. */
  async pull(
    reference: string,
    options: { platform?: string; progress?: PullProgress } = {},
  ): Promise<ImageInfo> {
    await this.pulled.pull(reference, options);
    return (await this.pulled.describe(reference)) ?? this.describe(reference);
  }

  /** A built-in name, or a stored (or being built) local image. */
  private async isLocal(name: string): Promise<boolean> {
    if (!IMAGE_NAME.test(name)) return false;
    if ((BUILTIN_IMAGES as readonly string[]).includes(name)) return true;
    return (await this.local.get(name)) !== undefined;
  }

  private async pulledByBareName(name: string) {
    const pulled = await this.pulled.describe(name);
    if (!pulled) throw notFound(name);
    return this.pulled.ensure(name);
  }
}

/** An image's `NAME=value` Env as an object (an entry without `=` is an empty value, as Docker reads it). */
export function imageEnv(config: ImageConfig | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of config?.env ?? []) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    else if (eq === -1 && entry) env[entry] = "";
  }
  return env;
}

function notFound(name: string): PaddockError {
  const pull = IMAGE_NAME.test(name)
    ? `pull it from Docker Hub with \`paddock image pull ${name}\` (${DEFAULT_REGISTRY}/library/${name}:latest), `
    : `pull it with \`paddock image pull ${name}\`, `;
  return new PaddockError(
    "image_not_found",
    `no image named "${name}"; ${pull}import one with \`paddock image import\`, or list them with \`paddock image ls\``,
  );
}
