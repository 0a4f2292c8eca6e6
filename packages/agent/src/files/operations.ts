import { chmod, lstat, mkdir, readdir, rename, rm, rmdir, unlink } from "node:fs/promises";
import { inParent } from "./pinned-dir.js";
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

// Calls that create, move or remove act inside their pinned parent (see PinnedDir), so a
// symlink swapped in meanwhile cannot lead them anywhere else, /.paddock included.

export async function remove(p: string, recursive: boolean): Promise<void> {
  if (p === "/") throw new AgentError("invalid_request", "refusing to delete /");
  await onPath(p, () =>
    inParent(p, false, async (dir, name) => {
      const target = dir.path(name);
      const st = await lstat(target);
      if (!st.isDirectory()) return unlink(target);
      if (recursive) return rm(target, { recursive: true });
      return rmdir(target);
    }),
  );
}

export async function makeDirectory(
  p: string,
  mode: number | undefined,
  parents: boolean,
): Promise<FileEntry> {
  if (p === "/") throw new AgentError("conflict", "/ already exists");
  await onPath(p, () =>
    inParent(p, parents, async (dir, name) => {
      const target = dir.path(name);
      try {
        await mkdir(target, { mode: mode ?? DEFAULT_DIR_MODE });
      } catch (err) {
        // Like mkdir -p: an existing directory is fine when parents were asked for.
        const code = (err as NodeJS.ErrnoException).code;
        if (!parents || code !== "EEXIST" || !(await lstat(target)).isDirectory()) throw err;
      }
      // mkdir's mode passes through the umask; set exactly what was asked.
      if (mode !== undefined) await chmod(target, mode);
    }),
  );
  return entryFor(p);
}

export async function move(from: string, to: string): Promise<FileEntry> {
  await onPath(from, () =>
    inParent(from, false, (src, fromName) =>
      inParent(to, false, (dest, toName) => rename(src.path(fromName), dest.path(toName))),
    ),
  );
  return entryFor(to);
}

export async function changeMode(p: string, mode: number): Promise<FileEntry> {
  await onPath(p, () => chmod(p, mode));
  return entryFor(p);
}
