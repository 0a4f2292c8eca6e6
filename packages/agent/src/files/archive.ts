import { chmod, lstat, mkdir, open, readdir, readlink, rm, symlink } from "node:fs/promises";
import { existsSync, rmdirSync } from "node:fs";
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
  knownDirs: Set<string>,
): Promise<void> {
  const mode = header.mode === undefined ? undefined : header.mode & 0o7777;
  switch (header.type ?? "file") {
    case "file":
    case "contiguous-file":
      if ((header.size ?? 0) <= SMALL_FILE_BYTES)
        return atomicWriteSmall(target, await gather(entry), mode, knownDirs);
      return atomicWrite(target, Readable.from(entry), { mode, parents: true });
    case "directory":
      await onPath(target, () => mkdir(target, { recursive: true }));
      knownDirs.add(target);
      if (mode !== undefined) await onPath(target, () => chmod(target, mode));
      return drain(entry);
    case "symlink":
      await drain(entry);
      await onPath(target, () => mkdir(path.posix.dirname(target), { recursive: true }));
      if ((await lstat(target).catch(() => undefined))?.isDirectory()) {
        throw new AgentError("conflict", `${target} is a directory; a symlink cannot replace it`);
      }
      await rm(target, { force: true });
      return onPath(target, () => symlink(header.linkname ?? "", target));
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
  const knownDirs = new Set<string>();
  const realDirs: RealPathCache = new Map();
  for await (const entry of extract) {
    let target = path.posix.join(dir, entry.header.name);
    try {
      target = realSandboxPath(target, { cache: realDirs });
      // A new symlink can change where any later path leads.
      if (entry.header.type === "symlink") realDirs.clear();
      // Small files are read whole before anything is made; a large one is streamed.
      batch.madeFor = (entry.header.size ?? 0) > SMALL_FILE_BYTES ? missingParents(target) : [];
      await writeEntry(target, entry.header, entry as AsyncIterable<Buffer>, knownDirs);
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
    for (const name of (await readdir(full)).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const child = path.posix.join(dir, childRel);
      const st = await lstat(child).catch(() => undefined);
      if (!st) continue;
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

/** Checks that a path is a directory before any response header goes out. */
export async function requireDirectory(p: string): Promise<void> {
  const st = await onPath(p, () => lstat(p));
  if (!st.isDirectory()) throw new AgentError("invalid_request", `${p} is not a directory`);
}
