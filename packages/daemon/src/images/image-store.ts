import { spawn } from "node:child_process";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { randomBytes } from "node:crypto";
import { BUILTIN_IMAGES, IMAGE_NAME, type ImageInfo } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import {
  BUILDER_VERSIONS,
  buildBusybox,
  buildDebian,
  buildDocker,
  type Progress,
} from "./builtin.js";
import { createMountPoints } from "./mount-points.js";

type Builtin = (typeof BUILTIN_IMAGES)[number];
const BUILDERS: Record<Builtin, (rootfs: string, progress: Progress) => Promise<void>> = {
  busybox: buildBusybox,
  debian: buildDebian,
  docker: buildDocker,
};

const isBuiltin = (name: string): name is Builtin =>
  (BUILTIN_IMAGES as readonly string[]).includes(name);

/** Ids of the sandboxes using an image: made, running or being torn down. */
export type ImageUsers = (name: string) => string[];

interface ImageMeta {
  name: string;
  source: "builtin" | "imported";
  createdAt: string;
  /** Built-in images: BUILDER_VERSIONS[name] of the builder that made it (absent: version 1). */
  builderVersion?: number;
}

/**
 * Images are directories `<dir>/<name>/rootfs` with an `image.json` beside. An image is built or
 * imported into a temporary directory and renamed into place whole, so a half-built image is
 * never seen. Sandboxes only ever read a stored image, and an image in use is never removed or
 * replaced: a removal is refused while any sandbox uses it, and a build never renames over a
 * stored image (see `store`).
 */
export class ImageStore {
  private readonly building = new Map<string, Promise<void>>();
  /** Per image: the tail of the calls that must not interleave (a create's pick, a removal). */
  private readonly locks = new Map<string, Promise<void>>();

  /** `usersOf` answers from the sandboxes' records, so it holds across daemon restarts. */
  constructor(
    readonly dir: string,
    private readonly usersOf: ImageUsers = () => [],
  ) {}

  rootfs(name: string): string {
    return path.join(this.dir, name, "rootfs");
  }

  async get(name: string): Promise<ImageInfo | undefined> {
    const meta = await this.readMeta(name);
    if (meta) return { ...meta, ready: true };
    if (isBuiltin(name)) return { name, source: "builtin", ready: false, createdAt: null };
    return undefined;
  }

  async list(): Promise<ImageInfo[]> {
    await mkdir(this.dir, { recursive: true });
    const names = new Set<string>(BUILTIN_IMAGES);
    for (const entry of await readdir(this.dir)) if (IMAGE_NAME.test(entry)) names.add(entry);
    const images = await Promise.all([...names].sort().map((n) => this.get(n)));
    return images.filter((i): i is ImageInfo => i !== undefined);
  }

  /** An image's description; image_not_found (with what to do) if there is none. */
  async describe(name: string): Promise<ImageInfo> {
    const info = await this.get(name);
    if (!info) {
      throw new PaddockError(
        "image_not_found",
        `no image named "${name}"; list them with \`paddock image ls\` or import one with \`paddock image import\``,
      );
    }
    return info;
  }

  /** The rootfs of a stored image, building a built-in one first if it is not there yet. */
  require(name: string, progress: Progress = () => {}): Promise<string> {
    return this.locked(name, () => this.resolve(name, progress));
  }

  /**
   * `require` for a caller that holds the image's lock. A built-in image stored by an older
   * builder (see BUILDER_VERSIONS) is built again and replaced, unless a sandbox uses it: then
   * the old build serves until they are gone.
   */
  private async resolve(name: string, progress: Progress): Promise<string> {
    const info = await this.describe(name);
    if (!info.ready) await this.build(name as Builtin, progress);
    else if ((await this.outdated(name)) && this.usersOf(name).length === 0) {
      // The stored build still works: keep it when the new one cannot be made (no mirror).
      await this.build(name as Builtin, progress).catch((err: unknown) =>
        progress(`keeping the stored ${name} image, rebuilding it failed: ${errorMessage(err)}`),
      );
    }
    return this.rootfs(name);
  }

  /** Whether a stored built-in image was made by an older builder. */
  private async outdated(name: string): Promise<boolean> {
    const meta = await this.readMeta(name);
    return (
      isBuiltin(name) &&
      meta?.source === "builtin" &&
      (meta.builderVersion ?? 1) !== BUILDER_VERSIONS[name]
    );
  }

  /** Renames a stored image out of the way, so it is gone at once; the caller deletes it. */
  private async moveAside(name: string): Promise<string> {
    const to = path.join(this.dir, `.removing-${name}-${randomBytes(4).toString("hex")}`);
    await rename(path.join(this.dir, name), to);
    return to;
  }

  /**
   * Resolves an image for a new sandbox (building a built-in one first) and runs `claim`, which
   * records the sandbox as a user, before a removal of the image can look for users: a create
   * that picked the image is always seen by a later removal, and a create after a removal finds
   * no image (or, for a built-in one, builds it afresh).
   */
  use<T>(
    name: string,
    progress: Progress,
    claim: () => T,
  ): Promise<{ rootfs: string; claimed: T }> {
    return this.locked(name, async () => {
      const rootfs = await this.resolve(name, progress);
      return { rootfs, claimed: claim() };
    });
  }

  /** Builds a built-in image once; concurrent callers share the one build. */
  build(name: Builtin, progress: Progress): Promise<void> {
    let job = this.building.get(name);
    if (!job) {
      job = this.store(name, "builtin", (rootfs) => BUILDERS[name](rootfs, progress))
        .catch((err: unknown) => {
          throw new PaddockError(
            "image_build_failed",
            `building image "${name}" failed: ${errorMessage(err)}`,
            undefined,
            { cause: err },
          );
        })
        .finally(() => this.building.delete(name));
      this.building.set(name, job);
    }
    return job;
  }

  /** Imports a rootfs from a tar stream (plain or gzip). */
  async import(name: string, tar: Readable): Promise<ImageInfo> {
    if (isBuiltin(name))
      throw new PaddockError(
        "image_exists",
        `"${name}" is a built-in image; import under another name`,
      );
    if (await this.readMeta(name)) {
      throw new PaddockError(
        "image_exists",
        `image "${name}" exists; remove it first with \`paddock image rm ${name}\``,
      );
    }
    await this.store(name, "imported", (rootfs) => extractTar(tar, rootfs));
    return (await this.get(name))!;
  }

  /** Removes a stored image; image_in_use (naming the sandboxes) while any sandbox uses it. */
  async remove(name: string): Promise<void> {
    const doomed = await this.locked(name, async () => {
      if (!(await this.readMeta(name)))
        throw new PaddockError("image_not_found", `no stored image named "${name}"`);
      const users = this.usersOf(name);
      if (users.length > 0) throw imageInUse(name, users);
      return this.moveAside(name);
    });
    await rm(doomed, { recursive: true, force: true });
  }

  /** Runs `fn` after every earlier call locked on `name` has settled. */
  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.locks.get(name) ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.locks.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    }
  }

  private async readMeta(name: string): Promise<ImageMeta | undefined> {
    if (!IMAGE_NAME.test(name)) return undefined;
    try {
      return JSON.parse(
        await readFile(path.join(this.dir, name, "image.json"), "utf8"),
      ) as ImageMeta;
    } catch {
      return undefined;
    }
  }

  private async store(
    name: string,
    source: ImageMeta["source"],
    fill: (rootfs: string) => Promise<void>,
  ): Promise<void> {
    const tmp = path.join(this.dir, `.tmp-${name}-${randomBytes(4).toString("hex")}`);
    const rootfs = path.join(tmp, "rootfs");
    await mkdir(rootfs, { recursive: true });
    try {
      await fill(rootfs);
      await createMountPoints(rootfs);
      const meta: ImageMeta = { name, source, createdAt: new Date().toISOString() };
      if (source === "builtin" && isBuiltin(name)) meta.builderVersion = BUILDER_VERSIONS[name];
      await writeFile(path.join(tmp, "image.json"), JSON.stringify(meta, null, 2));
      // An outdated built-in image is swapped for the new build only once that is complete.
      const old = (await this.outdated(name)) ? await this.moveAside(name) : undefined;
      await rename(tmp, path.join(this.dir, name));
      if (old) await rm(old, { recursive: true, force: true });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      // Another process stored the same image meanwhile: use theirs.
      if (await this.readMeta(name)) return;
      throw err;
    }
  }
}

function imageInUse(name: string, users: string[]): PaddockError {
  const shown = users.slice(0, 10).join(", ") + (users.length > 10 ? ", …" : "");
  const rebuilt = isBuiltin(name) ? " (a removed built-in image is built again on next use)" : "";
  return new PaddockError(
    "image_in_use",
    `image "${name}" is in use by ${users.length} sandbox${users.length === 1 ? "" : "es"} or snapshot${users.length === 1 ? "" : "s"} (${shown}); ` +
      `terminate the sandboxes (\`paddock rm <id>\`) and delete the snapshots (\`paddock snapshot rm <id>\`), then remove the image${rebuilt}`,
    { sandboxes: users },
  );
}

/** Extracts with GNU tar (argument vector, no shell), gunzipping when the stream starts with gzip's magic. */
async function extractTar(input: Readable, dest: string): Promise<void> {
  const head = await peek(input, 2);
  const body =
    head.length === 2 && head[0] === 0x1f && head[1] === 0x8b ? input.pipe(createGunzip()) : input;
  const child = spawn("tar", ["-x", "--numeric-owner", "-C", dest, "-f", "-"], {
    stdio: ["pipe", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  try {
    await pipeline(body, child.stdin);
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    throw new PaddockError("invalid_request", `the image upload failed: ${errorMessage(err)}`);
  }
  const code = await exited;
  if (code !== 0) {
    throw new PaddockError(
      "invalid_request",
      `not a valid tar archive: ${stderr.trim().slice(0, 500) || `tar exit ${code}`}`,
    );
  }
}

/** Reads the first bytes of a stream and puts them back. */
export async function peek(stream: Readable, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return;
      cleanup();
      stream.unshift(chunk);
      resolve(chunk.subarray(0, n));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.alloc(0));
    };
    const cleanup = () => {
      stream.off("readable", onReadable);
      stream.off("end", onEnd);
      stream.off("error", reject);
    };
    stream.on("readable", onReadable);
    stream.on("end", onEnd);
    stream.on("error", reject);
  });
}
