import { lstat, readlink } from "node:fs/promises";
import type { Stats } from "node:fs";
import path from "node:path";
import type { FileEntry, FileType } from "@paddock/protocol";
import { onPath } from "./errno.js";

function typeOf(st: Stats): FileType {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  return "other";
}

/** Describes a path without following a final symlink (its target is reported instead). */
export async function entryFor(p: string, st?: Stats): Promise<FileEntry> {
  const stats = st ?? (await onPath(p, () => lstat(p)));
  return {
    name: path.posix.basename(p) || "/",
    path: p,
    type: typeOf(stats),
    size: stats.size,
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    mtime: stats.mtime.toISOString(),
    symlinkTarget: stats.isSymbolicLink() ? await readlink(p).catch(() => null) : null,
  };
}
