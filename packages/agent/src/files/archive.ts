import { chmod, lstat, mkdir, open, readdir, readlink, rm, symlink } from "node:fs/promises";
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
 */
export async function extractInto(dir: string, body: Readable): Promise<BatchResult[]> {
  const extract = tar.extract();
  const feeding = pipeline(body, extract).then(
    () => undefined,
    (err: unknown) => err,
  );
  const results: BatchResult[] = [];
  const knownDirs = new Set<string>();
  const realDirs: RealPathCache = new Map();
  for await (const entry of extract) {
    let target = path.posix.join(dir, entry.header.name);
    try {
      target = realSandboxPath(target, { cache: realDirs });
      // A new symlink can change where any later path leads.
      if (entry.header.type === "symlink") realDirs.clear();
      await writeEntry(target, entry.header, entry as AsyncIterable<Buffer>, knownDirs);
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
  const failed = await feeding;
  if (failed) throw failed;
  return results;
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
