import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readdir, readlink, rename, rm, symlink, unlink } from "node:fs/promises";
import path from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import {
  describeCause,
  errnoOf,
  InvalidResponseError,
  isPaddockError,
  localError,
  type PaddockError,
} from "./errors.js";
import { localFileError } from "./sources.js";

/** What a failure of the stream being read (the download, not the local side) becomes. */
export type ReadFailure = (err: unknown) => unknown;
const asIs: ReadFailure = (err) => err;

/**
 * A local write that failed, classified once: a full disk is InsufficientStorageError, a refused
 * write PermissionDeniedError, anything else (a missing directory, a file in the way) a bad
 * destination, InvalidRequestError. `details.localPath` tells it from the sandbox's own.
 */
export function localWriteError(err: unknown, localPath: string): PaddockError {
  if (isPaddockError(err)) return err;
  const errno = errnoOf(err);
  const code =
    errno === "ENOSPC" || errno === "EDQUOT"
      ? "insufficient_storage"
      : errno === "EACCES" || errno === "EPERM" || errno === "EROFS"
        ? "permission_denied"
        : "invalid_request";
  return localError(
    code,
    `cannot write the local path ${localPath}: ${describeCause(err)}`,
    { localPath, errno },
    err,
  );
}

/**
 * Pipes `source` into `sink`. Which failed first tells the cause: a pipeline passes one stream's
 * failure on to the other, so the second to fail only echoes it.
 */
async function pipeClassified(
  source: Readable,
  sink: Writable,
  readFailure: ReadFailure,
  writeFailure: (err: unknown) => unknown,
): Promise<void> {
  let first: "source" | "sink" | undefined;
  source.once("error", () => (first ??= "source"));
  sink.once("error", () => (first ??= "sink"));
  try {
    await pipeline(source, sink);
  } catch (err) {
    // Neither failed, yet the source did not end: it was closed early, which is its failure.
    const sourceFailed = first === "source" || (first === undefined && !source.readableEnded);
    throw sourceFailed ? readFailure(err) : writeFailure(err);
  }
}

const toNode = (body: ReadableStream<Uint8Array> | Readable): Readable =>
  body instanceof Readable
    ? body
    : Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>);

/**
 * Writes a stream to a local file atomically: a temporary sibling, renamed into place. A failure
 * of the stream goes through `readFailure`; a local one is a localWriteError.
 */
export async function writeLocalAtomic(
  target: string,
  body: ReadableStream<Uint8Array> | Readable,
  mode?: number,
  readFailure: ReadFailure = asIs,
): Promise<void> {
  const tmp = path.join(path.dirname(target), `.paddock-${randomBytes(8).toString("hex")}.tmp`);
  try {
    // A deep buffer: chunks that arrive while one write is out go together in the next (writev),
    // instead of each 64 KiB waiting its turn with the connection paused.
    const sink = createWriteStream(tmp, {
      flags: "wx",
      mode: mode ?? 0o644,
      highWaterMark: 4 * 1024 * 1024,
    });
    await pipeClassified(toNode(body), sink, readFailure, (err) => localWriteError(err, target));
    await rename(tmp, target).catch((err: unknown) => {
      throw localWriteError(err, target);
    });
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Pipes a web stream into a Node writable, ending it. */
export async function pipeToWritable(
  body: ReadableStream<Uint8Array> | Readable,
  out: Writable,
  readFailure: ReadFailure = asIs,
): Promise<void> {
  await pipeClassified(toNode(body), out, readFailure, (err) =>
    localWriteError(err, "the destination stream"),
  );
}

/** Makes sure a local directory is there (creating it), before anything is downloaded into it. */
export async function ensureLocalDir(dir: string): Promise<string> {
  return (await makeLocalDir(dir)).dest;
}

/** Makes `dir` and its parents; `made` is the topmost one this call created, if any. */
export async function makeLocalDir(dir: string): Promise<{ dest: string; made?: string }> {
  const dest = path.resolve(dir);
  const made = await mkdir(dest, { recursive: true }).catch((err: unknown) => {
    throw localWriteError(err, dest);
  });
  return { dest, made };
}

/**
 * Checks that `target` lies inside `root` and that no directory on the way is a symlink, so an
 * archive from a sandbox can never make us write outside `root` (say, through `link -> /etc`).
 */
async function safeLocalPath(root: string, name: string): Promise<string> {
  const target = path.resolve(root, name);
  if (target !== root && !target.startsWith(root + path.sep))
    throw hostileEntry(`archive entry ${name} points outside ${root}`, name);
  let current = root;
  for (const part of path.relative(root, path.dirname(target)).split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    const st = await lstat(current).catch(() => undefined);
    if (st?.isSymbolicLink())
      throw hostileEntry(`archive entry ${name} goes through the symlink ${current}`, name);
  }
  return target;
}

/** An archive that would write outside its directory is refused as not what the SDK expects. */
const hostileEntry = (message: string, entry: string) =>
  new InvalidResponseError("invalid_response", message, 200, { entry });

/**
 * Unpacks a tar stream from a sandbox into a local directory, safely. Returns the entry count.
 * A failure of the stream goes through `readFailure`; an archive that is not a whole tar stream
 * or leads outside `root` is an InvalidResponseError; a local failure a localWriteError.
 */
export async function extractLocal(
  body: ReadableStream<Uint8Array>,
  root: string,
  readFailure: ReadFailure = asIs,
): Promise<number> {
  const dest = await ensureLocalDir(root);
  const source = toNode(body);
  // The stream failing is the root of any failure after it: the extractor and each entry only
  // pass it on. Listened to before the pipeline, so it is known before they fail.
  let cut: { err: unknown } | undefined;
  source.once("error", (err) => (cut ??= { err }));
  const extract = tar.extract();
  const feeding = pipeline(source, extract).then(
    () => undefined,
    (err: unknown) => err,
  );
  let count = 0;
  try {
    for await (const entry of extract) {
      const target = await safeLocalPath(dest, entry.header.name);
      try {
        if (!(await extractEntry(entry, target))) continue;
      } catch (err) {
        throw cut ? err : localWriteError(err, target);
      }
      count++;
    }
    const failed = await feeding;
    if (failed) throw failed;
  } catch (err) {
    if (cut) throw readFailure(cut.err);
    if (isPaddockError(err)) throw err;
    throw new InvalidResponseError(
      "invalid_response",
      `the archive is not a whole tar stream (${describeCause(err)}): was it cut short?`,
      200,
      undefined,
      { cause: err },
    );
  }
  return count;
}

type ArchiveEntry = AsyncIterable<unknown> & { header: tar.Header; resume(): unknown };

/** Writes one archive entry; false for a kind that is skipped (hard links, devices, fifos). */
async function extractEntry(entry: ArchiveEntry, target: string): Promise<boolean> {
  const mode = entry.header.mode === undefined ? undefined : entry.header.mode & 0o777;
  if (entry.header.type === "directory") {
    await mkdir(target, { recursive: true, mode });
    entry.resume();
  } else if (entry.header.type === "symlink") {
    entry.resume();
    await rm(target, { force: true });
    await symlink(entry.header.linkname ?? "", target);
  } else if (entry.header.type === "file") {
    await mkdir(path.dirname(target), { recursive: true });
    await writeLocalAtomic(target, Readable.from(entry), mode);
  } else {
    entry.resume();
    return false;
  }
  return true;
}

export interface PackEntry {
  /** Name inside the archive, relative. */
  name: string;
  source: string | URL | Uint8Array;
  mode?: number;
}

/** A tar stream of local files and bytes, produced as it is read (files are streamed). */
export function packLocal(entries: AsyncIterable<PackEntry> | Iterable<PackEntry>): Readable {
  const pack = tar.pack();
  void (async () => {
    let current: string | undefined;
    try {
      for await (const entry of entries) {
        const { source } = entry;
        current = source instanceof Uint8Array ? undefined : String(source);
        if (source instanceof Uint8Array) {
          await new Promise<void>((resolve, reject) =>
            pack.entry(
              { name: entry.name, mode: entry.mode ?? 0o644, size: source.length },
              Buffer.from(source),
              (err) => (err ? reject(err) : resolve()),
            ),
          );
          continue;
        }
        const st = await lstat(source);
        if (st.isDirectory()) {
          pack.entry({ name: entry.name, type: "directory", mode: entry.mode ?? st.mode & 0o7777 });
        } else if (st.isSymbolicLink()) {
          pack.entry({ name: entry.name, type: "symlink", linkname: await readlink(source) });
        } else if (st.isFile()) {
          await pipeline(
            createReadStream(source),
            pack.entry({ name: entry.name, mode: entry.mode ?? st.mode & 0o7777, size: st.size }),
          );
        }
      }
      pack.finalize();
    } catch (err) {
      // A local file that cannot be read fails the upload as the caller's bad argument.
      pack.destroy(
        isPaddockError(err) || current === undefined ? asError(err) : localFileError(current, err),
      );
    }
  })();
  // tar-stream's streams are streamx ones; Readable.from makes a real Node stream of it.
  return Readable.from(pack as AsyncIterable<Buffer>);
}

/** Every path under a local directory (depth first), relative names; symlinks are not followed. */
export async function* walkLocal(root: string, rel = ""): AsyncGenerator<PackEntry> {
  for (const name of (await readdir(path.join(root, rel))).sort()) {
    const childRel = rel ? `${rel}/${name}` : name;
    const full = path.join(root, childRel);
    const st = await lstat(full);
    yield { name: childRel, source: full };
    if (st.isDirectory()) yield* walkLocal(root, childRel);
  }
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
