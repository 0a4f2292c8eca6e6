import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readdir, readlink, rename, rm, symlink, unlink } from "node:fs/promises";
import path from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

/** Writes a stream to a local file atomically: a temporary sibling, renamed into place. */
export async function writeLocalAtomic(
  target: string,
  body: ReadableStream<Uint8Array> | Readable,
  mode?: number,
): Promise<void> {
  const tmp = path.join(path.dirname(target), `.paddock-${randomBytes(8).toString("hex")}.tmp`);
  try {
    const source =
      body instanceof Readable
        ? body
        : Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>);
    // A deep buffer: chunks that arrive while one write is out go together in the next (writev),
    // instead of each 64 KiB waiting its turn with the connection paused.
    const sink = createWriteStream(tmp, {
      flags: "wx",
      mode: mode ?? 0o644,
      highWaterMark: 4 * 1024 * 1024,
    });
    await pipeline(source, sink);
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Pipes a web stream into a Node writable, ending it. */
export async function pipeToWritable(
  body: ReadableStream<Uint8Array>,
  out: Writable,
): Promise<void> {
  await pipeline(
    Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>),
    out,
  );
}

/**
 * Checks that `target` lies inside `root` and that no directory on the way is a symlink, so an
 * archive from a sandbox can never make us write outside `root` (say, through `link -> /etc`).
 */
async function safeLocalPath(root: string, name: string): Promise<string> {
  const target = path.resolve(root, name);
  if (target !== root && !target.startsWith(root + path.sep))
    throw new Error(`archive entry ${name} points outside ${root}`);
  let current = root;
  for (const part of path.relative(root, path.dirname(target)).split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    const st = await lstat(current).catch(() => undefined);
    if (st?.isSymbolicLink())
      throw new Error(`archive entry ${name} goes through the symlink ${current}`);
  }
  return target;
}

/** Unpacks a tar stream from a sandbox into a local directory, safely. Returns the entry count. */
export async function extractLocal(
  body: ReadableStream<Uint8Array>,
  root: string,
): Promise<number> {
  const dest = path.resolve(root);
  await mkdir(dest, { recursive: true });
  const extract = tar.extract();
  const feeding = pipeline(
    Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>),
    extract,
  ).then(
    () => undefined,
    (err: unknown) => err,
  );
  let count = 0;
  for await (const entry of extract) {
    const target = await safeLocalPath(dest, entry.header.name);
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
      continue;
    }
    count++;
  }
  const failed = await feeding;
  if (failed) throw failed;
  return count;
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
    try {
      for await (const entry of entries) {
        const { source } = entry;
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
      pack.destroy(err instanceof Error ? err : new Error(String(err)));
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
