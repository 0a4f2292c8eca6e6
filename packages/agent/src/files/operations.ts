import { chmod, lstat, mkdir, readdir, rename, rm, rmdir, unlink } from "node:fs/promises";
import path from "node:path";
import type { FileEntry } from "@paddock/protocol";
import { AgentError } from "../router.js";
import { entryFor } from "./entry.js";
import { onPath } from "./errno.js";

export const DEFAULT_DIR_MODE = 0o755;

export function stat(p: string): Promise<FileEntry> {
  return entryFor(p);
}

export async function list(dir: string): Promise<FileEntry[]> {
  const names = await onPath(dir, () => readdir(dir));
  const entries = await Promise.all(
    names.sort().map((name) => entryFor(path.posix.join(dir, name)).catch(() => undefined)),
  );
  // An entry deleted between readdir and lstat is simply gone.
  return entries.filter((e): e is FileEntry => e !== undefined);
}

export async function remove(p: string, recursive: boolean): Promise<void> {
  if (p === "/") throw new AgentError("invalid_request", "refusing to delete /");
  const st = await onPath(p, () => lstat(p));
  if (!st.isDirectory()) return onPath(p, () => unlink(p));
  if (recursive) return onPath(p, () => rm(p, { recursive: true }));
  return onPath(p, () => rmdir(p));
}

export async function makeDirectory(
  p: string,
  mode: number | undefined,
  parents: boolean,
): Promise<FileEntry> {
  await onPath(p, () => mkdir(p, { recursive: parents, mode: mode ?? DEFAULT_DIR_MODE }));
  // mkdir's mode passes through the umask; set exactly what was asked.
  if (mode !== undefined) await onPath(p, () => chmod(p, mode));
  return entryFor(p);
}

export async function move(from: string, to: string): Promise<FileEntry> {
  await onPath(from, () => rename(from, to));
  return entryFor(to);
}

export async function changeMode(p: string, mode: number): Promise<FileEntry> {
  await onPath(p, () => chmod(p, mode));
  return entryFor(p);
}
