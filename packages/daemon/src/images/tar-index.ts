import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";

/**
 * Where each member of an uncompressed tar file lies, read from its headers only (ustar, GNU long
 * names, pax `path`/`linkpath`/`size`), so an archive can be told apart and its small JSON members
 * read without extracting it. Data is never interpreted here; GNU tar and skopeo read the rest.
 */

export interface TarMember {
  /** The member's path without a leading `./`. */
  name: string;
  /** `file`, `link` (hard link) or `symlink`; other types are not indexed. */
  type: "file" | "link" | "symlink";
  /** Offset of the data in the file, and its length. */
  offset: number;
  size: number;
  linkName?: string;
}

export interface TarIndex {
  members: Map<string, TarMember>;
  /** The file ends inside a member or before the end-of-archive blocks. */
  truncated: boolean;
  /** The first header is not a tar header (checksum or magic wrong): not a tar at all. */
  notTar: boolean;
}

const BLOCK = 512;
const WINDOW = 64 * 1024;

const clean = (name: string) => name.replace(/^(\.\/)+/, "").replace(/\/+$/, "");

function text(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString("utf8");
}

/** A numeric field: octal text, or base-256 when the high bit of the first byte is set (GNU). */
function number(buf: Buffer, start: number, length: number): number {
  if (buf[start]! & 0x80) {
    let n = buf[start]! & 0x7f;
    for (let i = 1; i < length; i++) n = n * 256 + buf[start + i]!;
    return n;
  }
  const t = text(buf, start, length).trim();
  return t === "" ? 0 : parseInt(t, 8);
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum === number(header, 148, 8);
}

/** pax extended header records: `LEN key=value\n`. */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const len = parseInt(data.subarray(at, space).toString("ascii"), 10);
    if (!(len > 0)) break;
    const record = data.subarray(space + 1, at + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

/** Reads blocks through a 64 KiB window, so the headers of small members cost one read each window. */
class BlockReader {
  private window = Buffer.alloc(0);
  private windowAt = 0;
  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  async read(at: number, length: number): Promise<Buffer> {
    if (at >= this.windowAt && at + length <= this.windowAt + this.window.length)
      return this.window.subarray(at - this.windowAt, at - this.windowAt + length);
    if (length > WINDOW) {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await this.fh.read(buf, 0, length, at);
      return buf.subarray(0, bytesRead);
    }
    const buf = Buffer.alloc(WINDOW);
    const { bytesRead } = await this.fh.read(buf, 0, WINDOW, at);
    this.window = buf.subarray(0, bytesRead);
    this.windowAt = at;
    return this.window.subarray(0, Math.min(length, bytesRead));
  }
}

/** Indexes the members of the tar file `file` (see TarIndex). */
export async function readTarIndex(file: string): Promise<TarIndex> {
  const fh = await open(file, "r");
  try {
    const reader = new BlockReader(fh, (await fh.stat()).size);
    const members = new Map<string, TarMember>();
    let at = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    for (let first = true; ; first = false) {
      const header = await reader.read(at, BLOCK);
      // Some writers leave out the end-of-archive blocks: ending between members is complete.
      if (header.length < BLOCK)
        return { members, truncated: header.length > 0 && !first, notTar: first };
      if (header.every((b) => b === 0)) return { members, truncated: false, notTar: first };
      if (!checksumOk(header)) return { members, truncated: false, notTar: first };
      const type = String.fromCharCode(header[156]!);
      const size = pax.size !== undefined ? Number(pax.size) : number(header, 124, 12);
      const offset = at + BLOCK;
      if (offset + size > reader.size) return { members, truncated: true, notTar: false };
      at = offset + Math.ceil(size / BLOCK) * BLOCK;
      if (type === "L" || type === "K" || type === "x") {
        const data = await reader.read(offset, size);
        if (type === "L") longName = text(data, 0, data.length);
        else if (type === "K") longLink = text(data, 0, data.length);
        else pax = paxRecords(data);
        continue;
      }
      const prefix = text(header, 257, 6).startsWith("ustar") ? text(header, 345, 155) : "";
      const rawName =
        pax.path ??
        longName ??
        (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
      const linkName = pax.linkpath ?? longLink ?? text(header, 157, 100);
      longName = longLink = undefined;
      pax = {};
      const kind =
        type === "0" || type === "\0" || type === "7"
          ? "file"
          : type === "1"
            ? "link"
            : type === "2"
              ? "symlink"
              : undefined;
      if (!kind) continue;
      const name = clean(rawName);
      members.set(name, {
        name,
        type: kind,
        offset,
        size: kind === "file" ? size : 0,
        ...(kind !== "file" && { linkName }),
      });
    }
  } finally {
    await fh.close();
  }
}

/**
 * The regular file a member name stands for, following hard links (named from the archive's
 * root) and symlinks (relative to the member's directory) a few hops; undefined if none.
 */
export function resolveMember(index: TarIndex, name: string): TarMember | undefined {
  let current = clean(name);
  for (let hops = 0; hops < 8; hops++) {
    const member = index.members.get(current);
    if (!member || member.type === "file") return member;
    const target = member.linkName ?? "";
    current =
      member.type === "link"
        ? clean(target)
        : clean(path.posix.normalize(path.posix.join(path.posix.dirname(current), target)));
  }
  return undefined;
}

/** A member's bytes (small members only: JSON documents). */
export async function readMember(
  file: string,
  member: TarMember,
  limit = 8 << 20,
): Promise<Buffer> {
  if (member.size > limit) throw new Error(`${member.name} is larger than ${limit} bytes`);
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(member.size);
    const { bytesRead } = await fh.read(buf, 0, member.size, member.offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
