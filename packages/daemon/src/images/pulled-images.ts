import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import {
  DEFAULT_PLATFORM,
  formatReference,
  parseReference,
  type ImageConfig,
  type ImageInfo,
  type ImageReference,
} from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import { pullImage, type PullProgress } from "./puller.js";
import { storeArchive, type ImageArchive } from "./archive-store.js";
import type { Registries } from "./registries.js";
import { ImageRefs, readJson } from "./image-refs.js";

/** What `.pulled/<hex>/image.json` holds. */
export interface PulledMeta {
  digest: string;
  platform: string;
  pulledAt: string;
  sizeBytes: number;
  config: ImageConfig;
  /** Blobs in the shared blob dir this image needs (kept while it is stored). */
  blobs: string[];
  /** Imported from a `docker save` archive or an OCI layout (`pulledAt`: when); absent: pulled. */
  source?: "imported";
}

export interface PulledImage {
  /** The reference the image was asked by, normalized, pinned to its digest. */
  image: string;
  rootfs: string;
  meta: PulledMeta;
}

/** `{ id, image }` of every sandbox not yet ended: their images stay stored. */
export type ActiveImages = () => { id: string; image: string }[];

const PINNED = /@(sha256:[a-f0-9]{64})$/;

/** The digest a sandbox's image names, if it is a pulled image (`ref@sha256:...`). */
export const pinnedDigest = (image: string) => PINNED.exec(image)?.[1];

/**
 * Images pulled from registries, stored by the registry's manifest digest:
 * - `.oci/blobs/sha256/`: blobs (layers, configs, manifests) shared by every pulled image, so a
 *   tag sharing layers with a stored one downloads only the new ones;
 * - `.pulled/<hex>/rootfs` and `image.json`: the unpacked image;
 * - `.refs/`: which digest each reference names (ImageRefs);
 * - `.pull-<pid>-<random>/`: a pull in progress, renamed into `.pulled` whole when done; left
 *   behind by a dead daemon, it is removed at start.
 * A removed image's files go when no reference names it and no sandbox uses it (`collect`), so a
 * running sandbox never loses its root filesystem.
 */
export class PulledImages {
  private readonly inflight = new Map<string, Promise<PulledImage>>();
  private tail: Promise<unknown> = Promise.resolve();
  private readonly refs: ImageRefs;

  constructor(
    readonly dir: string,
    private readonly registries: Registries,
    private readonly active: ActiveImages = () => [],
  ) {
    this.refs = new ImageRefs(path.join(dir, ".refs"));
  }

  get blobsDir(): string {
    return path.join(this.dir, ".oci", "blobs", "sha256");
  }
  private get pulledDir(): string {
    return path.join(this.dir, ".pulled");
  }
  imageDir(digest: string): string {
    return path.join(this.pulledDir, digest.slice("sha256:".length));
  }

  /**
   * Pulls `reference` for `platform` from its registry: the registry is always asked which
   * digest the reference names now; a digest already stored downloads nothing. A reference by
   * digest that is stored never touches the network.
   */
  async pull(
    reference: string,
    options: { platform?: string; progress?: PullProgress } = {},
  ): Promise<PulledImage> {
    const ref = parse(reference);
    const stored = ref.digest ? await this.stored(ref) : undefined;
    if (stored) return stored;
    const progress = options.progress ?? (() => {});
    const result = await pullImage(ref, {
      dir: this.dir,
      blobsDir: this.blobsDir,
      platform: options.platform ?? DEFAULT_PLATFORM,
      registries: this.registries,
      progress,
      isStored: (digest) => exists(this.imageDir(digest)),
      dedupe: (digest, job) => this.dedupe(digest, job),
      place: (digest, dir) => this.place(ref, digest, dir),
    });
    return result;
  }

  /**
   * Stores the image a `docker save` archive or an OCI layout holds (see storeArchive) under
   * `reference`, by its manifest digest, like a pulled image. The caller removes `archive.tmp`
   * (a `.pull-<pid>-*` dir, so a dead daemon's is removed at start) and, after a failure, calls
   * `collect` to drop the blobs it left.
   */
  async importArchive(reference: string, archive: ImageArchive): Promise<PulledImage> {
    const ref = parse(reference);
    return storeArchive(ref, archive, {
      dir: this.dir,
      blobsDir: this.blobsDir,
      platform: DEFAULT_PLATFORM,
      registries: this.registries,
      progress: () => {},
      isStored: (digest) => exists(this.imageDir(digest)),
      dedupe: (digest, job) => this.dedupe(digest, job),
      place: (digest, dir) => this.place(ref, digest, dir),
    });
  }

  /** The stored image `reference` names, pulling it (linux/amd64) when there is none. */
  async ensure(reference: string, progress?: PullProgress): Promise<PulledImage> {
    return (await this.stored(parse(reference))) ?? this.pull(reference, { progress });
  }

  /**
   * Runs `claim` (which records a sandbox using the image) while no removal can run, after
   * checking the image is still stored; a removal in between is an image_not_found.
   */
  claim<T>(image: PulledImage, claim: () => T): Promise<T> {
    return this.serial(async () => {
      if (!(await exists(image.rootfs))) {
        throw new PaddockError(
          "image_not_found",
          `image ${image.image} was removed meanwhile; pull it again with \`paddock image pull\``,
        );
      }
      return claim();
    });
  }

  async list(): Promise<ImageInfo[]> {
    const refs = await this.refs.all();
    const byDigest = new Map<string, string[]>();
    for (const r of refs) byDigest.set(r.digest, [...(byDigest.get(r.digest) ?? []), r.reference]);
    const hexes = await readdir(this.pulledDir).catch(() => [] as string[]);
    const images: ImageInfo[] = [];
    for (const hex of hexes.sort()) {
      const meta = await this.readMeta(`sha256:${hex}`);
      if (!meta) continue;
      images.push(toInfo(meta, (byDigest.get(meta.digest) ?? []).sort()));
    }
    return images;
  }

  /** The stored image a reference names, or undefined; no network. */
  async describe(reference: string): Promise<ImageInfo | undefined> {
    const found = await this.stored(parse(reference));
    if (!found) return undefined;
    const refs = (await this.refs.all()).filter((r) => r.digest === found.meta.digest);
    return toInfo(found.meta, refs.map((r) => r.reference).sort());
  }

  /**
   * Removes a reference (by digest: every reference to that image). The files go at once when
   * no sandbox uses the image, else when the last one ends.
   */
  async remove(reference: string): Promise<void> {
    const ref = parse(reference);
    const canonical = formatReference(ref);
    await this.serial(async () => {
      const refs = await this.refs.all();
      let doomed = refs.filter((r) => r.reference === canonical);
      // A bare digest (`name@sha256:...` not stored as a reference) removes the image.
      if (doomed.length === 0 && ref.digest && ref.tag === undefined)
        doomed = refs.filter((r) => r.digest === ref.digest);
      if (doomed.length === 0 && !(ref.digest && (await exists(this.imageDir(ref.digest))))) {
        throw new PaddockError(
          "image_not_found",
          `no stored image ${canonical}; list them with \`paddock image ls\``,
        );
      }
      for (const r of doomed) await this.refs.delete(r.reference);
    });
    await this.collect();
  }

  /**
   * Deletes images no reference names and no sandbox uses, then blobs no stored image needs
   * (skipped while a pull, here or in another daemon sharing the store, is running).
   */
  collect(): Promise<void> {
    return this.serial(async () => {
      const pulls = await this.cleanDeadPulls();
      const keep = new Set((await this.refs.all()).map((r) => r.digest));
      for (const { image } of this.active()) {
        const digest = pinnedDigest(image);
        if (digest) keep.add(digest);
      }
      const needed = new Set<string>();
      for (const hex of await readdir(this.pulledDir).catch(() => [] as string[])) {
        const digest = `sha256:${hex}`;
        if (keep.has(digest)) {
          for (const b of (await this.readMeta(digest))?.blobs ?? []) needed.add(b);
          continue;
        }
        const doomed = path.join(this.dir, `.removing-${randomBytes(6).toString("hex")}`);
        await rename(this.imageDir(digest), doomed).catch(() => {});
        await rm(doomed, { recursive: true, force: true });
      }
      if (pulls > 0) return;
      for (const hex of await readdir(this.blobsDir).catch(() => [] as string[])) {
        if (!needed.has(`sha256:${hex}`)) await rm(path.join(this.blobsDir, hex), { force: true });
      }
    });
  }

  /** A stored image by its reference (a digest reference may also name the image directly). */
  private async stored(ref: ImageReference): Promise<PulledImage | undefined> {
    const entry = await this.refs.get(formatReference(ref));
    const digest =
      entry?.digest ??
      (ref.digest && (await exists(this.imageDir(ref.digest))) ? ref.digest : undefined);
    if (!digest) return undefined;
    const meta = await this.readMeta(digest);
    if (!meta) return undefined;
    return {
      image: `${formatReference({ ...ref, digest: undefined })}@${digest}`,
      rootfs: path.join(this.imageDir(digest), "rootfs"),
      meta,
    };
  }

  /** Moves a finished pull into place (unless another got there first) and records the reference. */
  private place(
    ref: ImageReference,
    digest: string,
    pulled: string | undefined,
  ): Promise<PulledImage> {
    return this.serial(async () => {
      await mkdir(this.pulledDir, { recursive: true });
      if (pulled) {
        // Another daemon sharing the store may have placed the same digest: theirs is kept.
        await rename(pulled, this.imageDir(digest)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
        });
      }
      await this.refs.set(formatReference(ref), digest);
      const meta = await this.readMeta(digest);
      if (!meta) throw new PaddockError("internal", `pulled image ${digest} has no image.json`);
      return {
        image: `${formatReference({ ...ref, digest: undefined })}@${digest}`,
        rootfs: path.join(this.imageDir(digest), "rootfs"),
        meta,
      };
    });
  }

  private dedupe(digest: string, job: () => Promise<PulledImage>): Promise<PulledImage> {
    let running = this.inflight.get(digest);
    if (!running) {
      running = job().finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, running);
    }
    return running;
  }

  private readMeta(digest: string): Promise<PulledMeta | undefined> {
    return readJson(path.join(this.imageDir(digest), "image.json"));
  }

  /**
   * Removes `.pull-<pid>-*` dirs whose daemon is gone and `.removing-*` dirs a removal renamed
   * aside but did not finish deleting (nothing else ever opens them); returns how many pulls
   * are running.
   */
  private async cleanDeadPulls(): Promise<number> {
    let running = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (name.startsWith(".removing-")) {
        await rm(path.join(this.dir, name), { recursive: true, force: true });
        continue;
      }
      const m = /^\.pull-(\d+)-/.exec(name);
      if (!m) continue;
      if (isAlive(Number(m[1]))) running++;
      else await rm(path.join(this.dir, name), { recursive: true, force: true });
    }
    return running;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }
}

function toInfo(meta: PulledMeta, references: string[]): ImageInfo {
  const repo = references[0]?.replace(/[:@][^/]*$/, "");
  return {
    name: references[0] ?? `${repo ?? "<none>"}@${meta.digest}`,
    source: meta.source ?? "pulled",
    ready: true,
    createdAt: meta.pulledAt,
    references,
    digest: meta.digest,
    platform: meta.platform,
    sizeBytes: meta.sizeBytes,
    config: meta.config,
  };
}

function parse(reference: string): ImageReference {
  try {
    return parseReference(reference);
  } catch (err) {
    throw new PaddockError("invalid_request", errorMessage(err));
  }
}

export async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
