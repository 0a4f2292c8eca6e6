import { AgentError } from "../router.js";
import type { ErrorCode } from "@paddock/protocol";

/** errno to code and a sentence a user can act on. Classified here, once, where it is known. */
const ERRNO: Record<string, [ErrorCode, (path: string) => string]> = {
  ENOENT: ["file_not_found", (p) => `${p} does not exist in the sandbox`],
  EEXIST: ["conflict", (p) => `${p} already exists`],
  ENOTDIR: ["invalid_request", (p) => `a parent of ${p} is not a directory`],
  EISDIR: ["invalid_request", (p) => `${p} is a directory`],
  ENOTEMPTY: ["conflict", (p) => `${p} is a directory that is not empty; delete it with recursive`],
  EACCES: ["permission_denied", (p) => `permission denied on ${p}`],
  EPERM: ["permission_denied", (p) => `operation not permitted on ${p}`],
  EROFS: ["permission_denied", (p) => `${p} is on a read-only filesystem`],
  ENOSPC: [
    "insufficient_storage",
    (p) => `no space left in the sandbox while writing ${p}; nothing was kept`,
  ],
  EDQUOT: [
    "insufficient_storage",
    (p) => `the sandbox's disk quota is used up while writing ${p}; nothing was kept`,
  ],
  EFBIG: ["insufficient_storage", (p) => `${p} would be larger than the sandbox allows`],
  ENAMETOOLONG: ["invalid_request", (p) => `a name in ${p.slice(0, 200)}… is too long`],
  ELOOP: ["invalid_request", (p) => `too many symbolic links while resolving ${p}`],
  EXDEV: ["invalid_request", (p) => `${p} cannot be moved across filesystems`],
  EBUSY: ["conflict", (p) => `${p} is busy (a mount point?)`],
  EINVAL: ["invalid_request", (p) => `invalid operation on ${p}`],
  EIO: ["invalid_request", (p) => `${p} cannot be read (an I/O error: a special file?)`],
  ENXIO: [
    "invalid_request",
    (p) => `${p} is not a regular file (a socket or a device with nothing behind it)`,
  ],
  ERR_FS_EISDIR: ["invalid_request", (p) => `${p} is a directory`],
};

/** Turns a filesystem error into an AgentError; other errors pass through unchanged. */
export function fileError(err: unknown, path: string): unknown {
  if (err instanceof AgentError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const known = code ? ERRNO[code] : undefined;
  return known ? new AgentError(known[0], known[1](path)) : err;
}

/** Runs a filesystem call, classifying its failure. */
export async function onPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fileError(err, path);
  }
}
