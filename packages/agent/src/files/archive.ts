import { chmod, lstat, open, readlink, rm, symlink } from "node:fs/promises";
import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  rmdirSync,
  type Stats,
} from "node:fs";
import path from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import type { BatchResult } from "@paddock/protocol";
import { AgentError } from "../router.js";
import { atomicWrite, atomicWriteSmall, SMALL_FILE_BYTES } from "./atomic-write.js";
import { fileError, onPath } from "./errno.js";
import { FileSource } from "./file-source.js";
import { realSandboxPath, type RealPathCache } from "./paths.js";
import { inParent, PinnedDir } from "./pinned-dir.js";

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of entry) {
    // discard the rest of an entry that could not be written
  }
}

/** Reads a small entry whole (its size is in the header, so this is bounded). */
async function gather(entry: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function writeEntry(
  target: string,
  header: tar.Header,
  entry: AsyncIterable<Buffer>,
): Promise<void> {
  const mode = header.mode === undefined ? undefined : header.mode & 0o7777;
  switch (header.type ?? "file") {
    case "file":
    case "contiguous-file":
      if ((header.size ?? 0) <= SMALL_FILE_BYTES)
        return atomicWriteSmall(target, await gather(entry), mode);
      return atomicWrite(target, Readable.from(entry), { mode, parents: true });
    case "directory":
      await onPath(target, async () => {
        const made = PinnedDir.open(target, true);
        try {
          if (mode !== undefined) await chmod(made.path("."), mode);
        } finally {
          made.close();
        }
      });
      return drain(entry);
    case "symlink":
      await drain(entry);
      return onPath(target, () =>
        inParent(target, true, async (parent, name) => {
          if ((await lstat(parent.path(name)).catch(() => undefined))?.isDirectory()) {
            throw new AgentError(
              "conflict",
              `${target} is a directory; a symlink cannot replace it`,
            );
          }
          await rm(parent.path(name), { force: true });
          await symlink(header.linkname ?? "", parent.path(name));
        }),
      );
    default:
      await drain(entry);
      throw new AgentError(
        "invalid_request",
        `${header.name}: only files, directories and symlinks can be uploaded (got ${header.type})`,
      );
  }
}

/**
 * Unpacks a tar stream under `dir`, each file written atomically, with a result per entry.
 * Entry names are sandbox paths relative to `dir`; `..` cannot climb above the sandbox's root.
 * A body that is not a tar archive, or ends partway through one, is an invalid_request: no file
 * of the damaged part is kept (a file being written is dropped with its temporary), and the
 * message names the entries before the damage, which were written.
 */
export async function extractInto(dir: string, body: Readable): Promise<BatchResult[]> {
  const extract = tar.extract();
  // Not pipeline(): on a damaged archive the request must stay whole, so that the router reads
  // and drops its rest and the answer reaches a client still sending (a destroyed request
  // closed the connection under it: EPIPE, and a 503 from the daemon).
  let bodyFailed = false;
  let damage: Error | undefined;
  let head: Buffer | undefined;
  body.once("data", (chunk: Buffer) => (head = chunk));
  body.once("error", (err) => {
    bodyFailed = true;
    extract.destroy(err);
  });
  extract.once("error", (err: Error) => (damage = err));
  body.pipe(extract);
  const batch: Batch = { results: [], madeFor: [] };
  try {
    await extractEntries(dir, extract, batch);
  } catch (err) {
    if (bodyFailed || !damage) throw err;
    // The file cut off was dropped by its atomic write; the directories made for it go too.
    for (const made of batch.madeFor) {
      try {
        rmdirSync(made);
      } catch {
        // not empty after all, or gone: leave it
      }
    }
    throw notAnArchive(damage, head, batch.results);
  }
  return batch.results;
}

interface Batch {
  results: BatchResult[];
  /** Directories made for the large file being streamed (deepest first), until it is in. */
  madeFor: string[];
}

/** The directories above `target` that do not exist yet, deepest first. */
function missingParents(target: string): string[] {
  const missing: string[] = [];
  for (let d = path.posix.dirname(target); !existsSync(d); d = path.posix.dirname(d)) {
    missing.push(d);
  }
  return missing;
}

function notAnArchive(damage: Error, head: Buffer | undefined, done: BatchResult[]): AgentError {
  const gzip = head !== undefined && head[0] === 0x1f && head[1] === 0x8b;
  const what = gzip
    ? "the body is gzip-compressed: send an uncompressed tar archive (gunzip it first)"
    : `the body is not a valid tar archive (${damage.message}); send an uncompressed tar archive`;
  const written = done.filter((r) => r.ok).map((r) => r.path);
  const kept =
    written.length === 0
      ? "; nothing was written"
      : `; the ${written.length} entries before the damage were written (${written.slice(0, 5).join(", ")}${written.length > 5 ? ", …" : ""})`;
  return new AgentError("invalid_request", what + kept);
}

async function extractEntries(dir: string, extract: tar.Extract, batch: Batch): Promise<void> {
  const { results } = batch;
  const realDirs: RealPathCache = new Map();
  for await (const entry of extract) {
    let target = path.posix.join(dir, entry.header.name);
    try {
      target = realSandboxPath(target, { cache: realDirs });
      // A new symlink can change where any later path leads.
      if (entry.header.type === "symlink") realDirs.clear();
      // Small files are read whole before anything is made; a large one is streamed.
      batch.madeFor = (entry.header.size ?? 0) > SMALL_FILE_BYTES ? missingParents(target) : [];
      await writeEntry(target, entry.header, entry as AsyncIterable<Buffer>);
      batch.madeFor = [];
      results.push({ path: target, ok: true });
    } catch (err) {
      await drain(entry).catch(() => {});
      const known = fileError(err, target);
      if (!(known instanceof AgentError)) throw known;
      results.push({
        path: target,
        ok: false,
        error: { code: known.code, message: known.message },
      });
    }
  }
}

/** Streams `dir` as a tar archive: files, directories and symlinks; other kinds are skipped. */
export async function packDirectory(dir: string, out: Writable): Promise<void> {
  const pack = tar.pack();
  const sending = pipeline(pack, out);
  const walk = async (rel: string): Promise<void> => {
    const full = path.posix.join(dir, rel);
    // Synchronous listing and lstat: under gVisor a thread-pool hop per entry costs more than
    // the call (10,000 small files took over a minute).
    for (const name of readdirSync(full).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const child = path.posix.join(dir, childRel);
      let st: Stats;
      try {
        st = lstatSync(child);
      } catch {
        continue;
      }
      const base = {
        name: childRel,
        mode: st.mode & 0o7777,
        mtime: st.mtime,
        uid: st.uid,
        gid: st.gid,
      };
      if (st.isDirectory()) {
        pack.entry({ ...base, type: "directory" });
        await walk(childRel);
      } else if (st.isSymbolicLink()) {
        pack.entry({ ...base, type: "symlink", linkname: await readlink(child) });
      } else if (st.isFile() && st.size <= SMALL_FILE_BYTES) {
        const data = readSmallFile(child, st.size);
        if (data) pack.entry({ ...base, type: "file", size: st.size }, data);
      } else if (st.isFile()) {
        await pipeline(
          new FileSource(await open(child, "r")),
          pack.entry({ ...base, type: "file", size: st.size }),
        );
      }
    }
  };
  try {
    await walk("");
    pack.finalize();
  } catch (err) {
    pack.destroy(err instanceof Error ? err : undefined);
  }
  await sending;
}

/**
 * A small file's `size` bytes, read on the agent's own thread (under gVisor the thread-pool hops
 * of an open, a stream and a close cost ~7 ms a file). A file that shrank meanwhile is padded
 * with zeros to the size its header announced; undefined when it cannot be opened any more.
 */
function readSmallFile(file: string, size: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const data = Buffer.alloc(size);
    for (let at = 0; at < size;) {
      const got = readSync(fd, data, at, size - at, null);
      if (got === 0) break;
      at += got;
    }
    return data;
  } finally {
    closeSync(fd);
  }
}

/** Checks that a path is a directory before any response header goes out. */
export async function requireDirectory(p: string): Promise<void> {
  const st = await onPath(p, () => lstat(p));
  if (!st.isDirectory()) throw new AgentError("invalid_request", `${p} is not a directory`);
}
