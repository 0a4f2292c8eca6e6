import { closeSync, constants, mkdirSync, openSync, readlinkSync } from "node:fs";
import path from "node:path";
import { refuseReserved } from "./paths.js";

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

/**
 * A directory held open, checked for where it really is once open, and then used only through
 * /proc/self/fd/N: whatever a process in the sandbox swaps for a symlink meanwhile, a name
 * made with `path()` resolves in this very directory (the kernel, and gVisor, treat the fd
 * link as the directory itself, like openat). So an API call never creates, writes or removes
 * anything anywhere it did not check, and a temporary file it made is always the one it removes.
 */
export class PinnedDir {
  private constructor(private readonly fd: number) {}

  /**
   * Opens `dir` (an absolute, canonical sandbox path). Missing directories are made when
   * `create`, one at a time, each inside its checked parent. Throws the errno error (ENOENT,
   * ENOTDIR…) or permission_denied for the agent's own directory.
   */
  static open(dir: string, create: boolean, mode = 0o777): PinnedDir {
    try {
      return PinnedDir.checked(openSync(dir, DIR_FLAGS));
    } catch (err) {
      if (!create || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    let at = PinnedDir.checked(openSync("/", DIR_FLAGS));
    for (const name of dir.split("/").filter(Boolean)) {
      try {
        try {
          mkdirSync(at.path(name), mode);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        const next = PinnedDir.checked(openSync(at.path(name), DIR_FLAGS));
        at.close();
        at = next;
      } catch (err) {
        at.close();
        throw err;
      }
    }
    return at;
  }

  /** The parent of `target`, pinned, and the name of `target` in it. */
  static parentOf(target: string, create: boolean): { dir: PinnedDir; name: string } {
    return {
      dir: PinnedDir.open(path.posix.dirname(target), create),
      name: path.posix.basename(target),
    };
  }

  private static checked(fd: number): PinnedDir {
    try {
      refuseReserved(readlinkSync(`/proc/self/fd/${fd}`));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new PinnedDir(fd);
  }

  /** A path that names `name` inside this directory, whatever happens to its path meanwhile. */
  path(name: string): string {
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Runs `fn` with `target`'s parent pinned, and closes it after. */
export async function inParent<T>(
  target: string,
  create: boolean,
  fn: (dir: PinnedDir, name: string) => Promise<T> | T,
): Promise<T> {
  const { dir, name } = PinnedDir.parentOf(target, create);
  try {
    return await fn(dir, name);
  } finally {
    dir.close();
  }
}
