import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from "node:fs";
import { FileSink } from "./file-sink.js";
import { chmod, chown, rename, stat, unlink } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeBody } from "../http-body.js";
import { AgentError } from "../router.js";
import { fileError } from "./errno.js";
import { PinnedDir } from "./pinned-dir.js";

/** A short fixed-length name, so a target name near NAME_MAX still gets a temporary sibling. */
const tempName = () => `.paddock-${randomBytes(8).toString("hex")}.tmp`;

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
 * untouched. The parent is pinned (PinnedDir) for the whole write: a symlink swapped in
 * meanwhile can neither redirect the file nor strand its temporary.
 */
export async function atomicWrite(
  target: string,
  source: Readable | Fill,
  options: WriteOptions,
): Promise<void> {
  let parent: { dir: PinnedDir; name: string };
  try {
    parent = PinnedDir.parentOf(target, options.parents);
  } catch (err) {
    throw fileError(err, target);
  }
  const { dir } = parent;
  const final = dir.path(parent.name);
  const tmp = dir.path(tempName());
  try {
    const existing = await stat(final).catch(() => undefined);
    if (existing?.isDirectory())
      throw new AgentError("invalid_request", `${target} is a directory`);
    const mode = options.mode ?? (existing ? existing.mode & 0o7777 : DEFAULT_FILE_MODE);
    try {
      if (typeof source === "function") await source(tmp);
      else await pipeBody(source, new FileSink(tmp, 0o600, options.maxBytes));
      await chmod(tmp, mode);
      // Replacing someone's file keeps it theirs.
      if (existing) await chown(tmp, existing.uid, existing.gid);
      await rename(tmp, final);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  } catch (err) {
    throw fileError(err, target);
  } finally {
    dir.close();
  }
}

/** Files up to this size are gathered whole and written in one go (batch uploads). */
export const SMALL_FILE_BYTES = 1024 * 1024;

/**
 * The same atomic write for small content already in memory, done with synchronous calls: for
 * a batch of many small files the per-call thread-pool hops would cost more than the writes.
 * Parents are made as needed; the parent is pinned as in atomicWrite.
 */
export function atomicWriteSmall(target: string, data: Buffer, mode: number | undefined): void {
  let dir: PinnedDir | undefined;
  try {
    const parent = PinnedDir.parentOf(target, true);
    dir = parent.dir;
    const final = dir.path(parent.name);
    const existing = statOrUndefined(final);
    if (existing?.isDirectory())
      throw new AgentError("invalid_request", `${target} is a directory`);
    const tmp = dir.path(tempName());
    try {
      writeFileSync(tmp, data, { flag: "wx", mode: 0o600 });
      chmodSync(tmp, mode ?? (existing ? existing.mode & 0o7777 : DEFAULT_FILE_MODE));
      if (existing) chownSync(tmp, existing.uid, existing.gid);
      renameSync(tmp, final);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  } catch (err) {
    throw fileError(err, target);
  } finally {
    dir?.close();
  }
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}
