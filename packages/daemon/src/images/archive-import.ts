import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { BUILTIN_IMAGES, IMAGE_NAME, parseReference, type ImageInfo } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import type { ImageArchive } from "./archive-store.js";
import type { ImageService } from "./image-service.js";
import { peek } from "./image-store.js";
import { readTarIndex, type TarIndex } from "./tar-index.js";

/** What an upload turned out to be. */
export type ArchiveKind = "docker-archive" | "oci-layout" | "rootfs";

/**
 * Tells a `docker save` archive (manifest.json at its root), an OCI image layout (oci-layout and
 * index.json at its root; Docker 25's `docker save` writes both, and is read as a layout, which
 * keeps its digests) and a root filesystem tarball (anything else) apart.
 */
export function archiveKind(index: TarIndex): ArchiveKind {
  const has = (name: string) => index.members.get(name)?.type === "file";
  if (has("oci-layout") && has("index.json")) return "oci-layout";
  if (has("manifest.json")) return "docker-archive";
  return "rootfs";
}

/**
 * `PUT /v1/images/:name`: stores an uploaded tar (plain or gzip) as an image. The upload is
 * written to a temp file in the image store as it arrives (never held in memory) and removed
 * after. A root filesystem becomes a local image named `name` (ImageStore.import); a `docker
 * save` archive or an OCI layout goes through the pull's pipeline (storeArchive) and is stored
 * by digest under the reference `name` (a plain name is `docker.io/library/NAME:latest`, as
 * `docker load` names it). A failed import leaves nothing: its work dir goes, and the blobs it
 * copied are collected.
 */
export async function importImage(
  images: ImageService,
  name: string,
  upload: Readable,
): Promise<ImageInfo> {
  await refuseTaken(images, name);
  const tmp = workDir(images, "import");
  const file = path.join(tmp, "upload.tar");
  let copiedBlobs = false;
  let failed = false;
  try {
    await mkdir(tmp, { recursive: true });
    await receive(upload, file);
    const index = await readTarIndex(file);
    if (index.truncated)
      throw new PaddockError(
        "invalid_request",
        "the upload is damaged: the tar ends in the middle of a file (truncated); send it whole again",
      );
    const kind = index.notTar ? "rootfs" : archiveKind(index);
    if (kind === "rootfs") {
      if (!IMAGE_NAME.test(name)) {
        throw new PaddockError(
          "invalid_request",
          `a root filesystem is imported under a plain name (1-64 of a-z, 0-9, '.', '_', '-'), not "${name}"; references with a tag are for \`docker save\` archives and OCI layouts`,
        );
      }
      // GNU tar judges the rootfs tarball, as before.
      return await images.local.import(name, createReadStream(file));
    }
    let archive: ImageArchive;
    if (kind === "docker-archive") archive = { kind, tmp, file, index };
    else {
      archive = { kind, tmp, dir: await extractLayout(file, path.join(tmp, "source")) };
      await rm(file);
    }
    copiedBlobs = true;
    await images.pulled.importArchive(name, archive);
    return (await images.pulled.describe(name))!;
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await rm(tmp, { recursive: true, force: true });
    // Only once the work dir is gone: a `.pull-` dir of a live daemon keeps every blob.
    if (failed && copiedBlobs) await images.pulled.collect().catch(() => {});
  }
}

/**
 * A new work dir in the image store (not made yet). `.pull-<pid>-`: the image store removes a
 * dead daemon's work dirs at start, and keeps the shared blobs while one is in use.
 */
export function workDir(images: ImageService, what: string): string {
  return path.join(
    images.local.dir,
    `.pull-${process.pid}-${what}-${randomBytes(6).toString("hex")}`,
  );
}

/** Refuses names that a local image holds before the upload is read. */
export async function refuseTaken(images: ImageService, name: string): Promise<void> {
  if ((BUILTIN_IMAGES as readonly string[]).includes(name))
    throw new PaddockError(
      "image_exists",
      `"${name}" is a built-in image; import under another name`,
    );
  if (IMAGE_NAME.test(name) && (await images.local.get(name))) {
    throw new PaddockError(
      "image_exists",
      `image "${name}" exists; remove it first with \`paddock image rm ${name}\``,
    );
  }
  if (!IMAGE_NAME.test(name) && parseReferenceOrUndefined(name)?.digest) {
    throw new PaddockError(
      "invalid_request",
      `import under a name or name:tag, not a digest ("${name}"): the image is stored under its own manifest digest`,
    );
  }
}

function parseReferenceOrUndefined(name: string) {
  try {
    return parseReference(name);
  } catch {
    return undefined;
  }
}

/** Writes the upload to `file`, gunzipping it when it starts with gzip's magic. */
export async function receive(
  upload: Readable,
  file: string,
  what = "image upload",
): Promise<void> {
  try {
    const head = await peek(upload, 2);
    const gzip = head.length === 2 && head[0] === 0x1f && head[1] === 0x8b;
    if (gzip) await pipeline(upload, createGunzip(), createWriteStream(file));
    else await pipeline(upload, createWriteStream(file));
  } catch (err) {
    upload.destroy();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOSPC")
      throw new PaddockError(
        "insufficient_storage",
        `the image store's disk is full; free space (\`paddock image rm\`) and send the ${what} again`,
      );
    if (code?.startsWith("Z_"))
      throw new PaddockError(
        "invalid_request",
        `the gzip ${what} is damaged: ${errorMessage(err)}`,
      );
    throw new PaddockError("invalid_request", `the ${what} failed: ${errorMessage(err)}`);
  }
}

/** Extracts an OCI layout's tar with GNU tar (argument vector, no shell) into `dir`. */
async function extractLayout(file: string, dir: string): Promise<string> {
  await mkdir(dir);
  const child = spawn("tar", ["-x", "--no-same-owner", "-C", dir, "-f", file], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) {
    throw new PaddockError(
      "invalid_request",
      `the archive is damaged: ${stderr.trim().split(file).join("the archive") || `tar exit ${code}`}`,
    );
  }
  return dir;
}
