import { randomBytes } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { PaddockError } from "../errors.js";
import { run } from "../exec.js";
import { DIGEST, parseManifest } from "./oci-layout.js";
import type { PulledImage } from "./pulled-images.js";
import { LAYOUT_TAG, prepareLayout } from "./puller.js";
import { runTool, toolMessage } from "./skopeo.js";

/** A `docker save` archive being written by skopeo. */
export interface ArchiveExport {
  /** The archive's bytes, as skopeo writes them. */
  stream: Readable;
  /** Settles when skopeo is done: rejects with its error (or the abort). */
  done: Promise<void>;
  /** Stops skopeo and the stream (the reader gave up). */
  abort(): void;
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/**
 * Exports a stored image as a `docker save` archive naming it `tag` (`name:tag`, no digest),
 * streamed: skopeo reads the image from the store's shared blobs through a one-image OCI layout
 * and writes the archive into a FIFO that `stream` reads, so no copy the size of the image
 * lands on disk. A FIFO, because skopeo opens its destination by path and Node's child stdio are
 * sockets, which open(2) of /dev/stdout refuses (ENXIO).
 *
 * The work dir is a `.pull-<pid>-*` dir of the store: blob collection waits while one exists
 * (PulledImages.collect), and a dead daemon's is removed at start.
 */
export async function exportDockerArchive(
  store: { dir: string; blobsDir: string },
  image: PulledImage,
  tag: string,
): Promise<ArchiveExport> {
  const tmp = path.join(store.dir, `.pull-${process.pid}-export-${randomBytes(6).toString("hex")}`);
  await mkdir(tmp);
  let started = false;
  try {
    const { layout, policy } = await prepareLayout(tmp, store.blobsDir);
    await writeIndex(layout, store.blobsDir, image);
    const fifo = path.join(tmp, "archive.tar");
    await run("mkfifo", ["-m", "600", "--", fifo]);
    const controller = new AbortController();
    // Paths are relative to tmp: skopeo splits `transport:path:ref` at the first colon.
    const copied = runTool(
      "skopeo",
      [
        "--policy",
        policy,
        "copy",
        "--quiet",
        "--",
        `oci:layout:${LAYOUT_TAG}`,
        `docker-archive:archive.tar:${tag}`,
      ],
      { cwd: tmp, signal: controller.signal },
    );
    started = true;
    const stream = createReadStream(fifo, { highWaterMark: 1024 * 1024 });
    const done = copied
      .then((r) => {
        if (r.code === 0) return;
        const message = toolMessage(r.stderr);
        // skopeo's message names host paths: the admin's details have it.
        throw new PaddockError(
          "internal",
          `exporting ${image.image} from the image store as a docker archive failed`,
          { readerGone: /broken pipe/i.test(message) },
          { hostDetails: { skopeo: message } },
        );
      })
      .finally(async () => {
        await unblockReader(fifo);
        await rm(tmp, { recursive: true, force: true });
      });
    done.catch(() => {});
    return {
      stream,
      done,
      abort() {
        controller.abort();
        stream.destroy();
      },
    };
  } finally {
    if (!started) await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The layout's index.json names the image's manifest as skopeo stored it (the first of its
 * blobs; see readStoredImage), tagged LAYOUT_TAG.
 */
async function writeIndex(layout: string, blobsDir: string, image: PulledImage): Promise<void> {
  const digest = image.meta.blobs[0] ?? "";
  const raw = await readFile(path.join(blobsDir, digest.slice("sha256:".length))).catch(
    () => undefined,
  );
  if (!DIGEST.test(digest) || raw === undefined) {
    throw new PaddockError(
      "image_corrupt",
      `the stored image ${image.image} has lost its manifest; pull it again with \`paddock image pull\``,
    );
  }
  const text = raw.toString("utf8");
  if (parseManifest(text, `the stored manifest of ${image.image}`).kind !== "manifest")
    throw new PaddockError("image_corrupt", `the stored manifest of ${image.image} is an index`);
  const mediaType = (JSON.parse(text) as { mediaType?: unknown }).mediaType;
  const descriptor = {
    mediaType: typeof mediaType === "string" ? mediaType : OCI_MANIFEST,
    digest,
    size: raw.length,
    annotations: { "org.opencontainers.image.ref.name": LAYOUT_TAG },
  };
  await writeFile(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    path.join(layout, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [descriptor] }),
  );
}

/**
 * A reader still waiting in open(2) for a writer (skopeo failed before opening the FIFO) is let
 * go: a non-blocking open for writing succeeds while a reader waits, and closing it is the EOF.
 * Without a reader it fails with ENXIO, which is fine.
 */
async function unblockReader(fifo: string): Promise<void> {
  const handle = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
  await handle?.close();
}
