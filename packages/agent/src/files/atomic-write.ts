import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from "node:fs";
import { FileSink } from "./file-sink.js";
import { chmod, chown, mkdir, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeBody } from "../http-body.js";
import { AgentError } from "../router.js";
import { fileError, onPath } from "./errno.js";

export const DEFAULT_FILE_MODE = 0o644;

export interface WriteOptions {
  /** Permission bits; default: the existing file's, else 0644. */
  mode?: number;
  parents: boolean;
  /** Refuse (413) and keep nothing once more than this many bytes arrive. */
  maxBytes?: number;
}

/** Fills the temporary file at `tmp` (creating it, mode 0600, exclusively); throws to give up. */
export type Fill = (tmp: string) => Promise<void>;

/**
 * Streams `source` (or lets `fill` write) into a temporary file beside `target`, then renames
 * it into place: a reader sees the old file or the new one, never a partial one. On any failure
 * (the client went away, the disk filled) the temporary file is removed and the target is
 * untouched.
 */
export async function atomicWrite(
  target: string,
  source: Readable | Fill,
  options: WriteOptions,
): Promise<void> {
  const dir = path.posix.dirname(target);
  if (options.parents) await onPath(dir, () => mkdir(dir, { recursive: true }));
  const existing = await stat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new AgentError("invalid_request", `${target} is a directory`);
  const mode = options.mode ?? (existing ? existing.mode & 0o7777 : DEFAULT_FILE_MODE);
  // A short fixed-length name, so a target name near NAME_MAX still gets a temporary sibling.
  const tmp = path.posix.join(dir, `.paddock-${randomBytes(8).toString("hex")}.tmp`);
  try {
    if (typeof source === "function") await source(tmp);
    else await pipeBody(source, new FileSink(tmp, 0o600, options.maxBytes));
    await chmod(tmp, mode);
    // Replacing someone's file keeps it theirs.
    if (existing) await chown(tmp, existing.uid, existing.gid);
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw fileError(err, target);
  }
}

/** Files up to this size are gathered whole and written in one go (batch uploads). */
export const SMALL_FILE_BYTES = 1024 * 1024;

/**
 * The same atomic write for small content already in memory, done with synchronous calls: for
 * a batch of many small files the per-call thread-pool hops would cost more than the writes.
 * `knownDirs` remembers parents already made during one batch.
 */
export function atomicWriteSmall(
  target: string,
  data: Buffer,
  mode: number | undefined,
  knownDirs: Set<string>,
): void {
  const dir = path.posix.dirname(target);
  try {
    if (!knownDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      knownDirs.add(dir);
    }
    const existing = statOrUndefined(target);
    if (existing?.isDirectory())
      throw new AgentError("invalid_request", `${target} is a directory`);
    const tmp = path.posix.join(dir, `.paddock-${randomBytes(8).toString("hex")}.tmp`);
    try {
      writeFileSync(tmp, data, { flag: "wx", mode: 0o600 });
      chmodSync(tmp, mode ?? (existing ? existing.mode & 0o7777 : DEFAULT_FILE_MODE));
      if (existing) chownSync(tmp, existing.uid, existing.gid);
      renameSync(tmp, target);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  } catch (err) {
    throw fileError(err, target);
  }
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}
