import { z } from "zod";
import { FileEntrySchema, FileListSchema, type FileEntry } from "@paddock/protocol";
import { ConnectError } from "./connect.js";
import { DaemonClient, PaddockApiError } from "./daemon-client.js";
import { resolvePath, type EnvdCall, type EnvdMethod } from "./envd-call.js";
import { parseMessage } from "./process-service.js";
import { watchDir } from "./watch-service.js";

/*
 * envd's filesystem.Filesystem service (E2B's envd/spec/filesystem/filesystem.proto) in its
 * JSON form, on Paddock's file API.
 */

const PathRequest = z.object({ path: z.string() });
const ListDirRequest = z.object({ path: z.string(), depth: z.number().int().min(0).default(1) });
const MoveRequest = z.object({ source: z.string(), destination: z.string() });
/** Directories listed at most in one ListDir, so a deep tree cannot hold the daemon. */
const MAX_LISTED_DIRS = 10_000;

const FILE_TYPES = {
  file: "FILE_TYPE_FILE",
  dir: "FILE_TYPE_DIRECTORY",
  symlink: "FILE_TYPE_SYMLINK",
} as const;

/** `ls -l`'s mode column as Go prints a FileMode (which envd sends as `permissions`). */
export function permissionsText(type: FileEntry["type"], mode: number): string {
  const kind = type === "dir" ? "d" : type === "symlink" ? "L" : "-";
  let bits = "";
  for (let shift = 6; shift >= 0; shift -= 3) {
    const part = (mode >> shift) & 7;
    bits += (part & 4 ? "r" : "-") + (part & 2 ? "w" : "-") + (part & 1 ? "x" : "-");
  }
  return kind + bits;
}

const ownerName = (id: number) => (id === 0 ? "root" : String(id));

/** envd's EntryInfo from Paddock's FileEntry. */
export function entryInfo(entry: FileEntry) {
  return {
    name: entry.name,
    type: FILE_TYPES[entry.type as keyof typeof FILE_TYPES] ?? "FILE_TYPE_UNSPECIFIED",
    path: entry.path,
    size: String(entry.size),
    mode: entry.mode,
    permissions: permissionsText(entry.type, entry.mode),
    owner: ownerName(entry.uid),
    group: ownerName(entry.gid),
    modifiedTime: entry.mtime,
    ...(entry.symlinkTarget !== null ? { symlinkTarget: entry.symlinkTarget } : {}),
  };
}

const files = (call: EnvdCall, rest = "") => DaemonClient.sandbox(call.sandboxId, `/files${rest}`);

export function stat(call: EnvdCall, path: string): Promise<FileEntry> {
  return call.client.json("GET", files(call, "/stat"), FileEntrySchema, {
    query: { path },
    signal: call.signal,
  });
}

async function statMethod(message: unknown, call: EnvdCall) {
  const { path } = parseMessage(PathRequest, message, "StatRequest");
  return { entry: entryInfo(await stat(call, resolvePath(path, call.user))) };
}

async function makeDir(message: unknown, call: EnvdCall) {
  const path = resolvePath(parseMessage(PathRequest, message, "MakeDirRequest").path, call.user);
  const existing = await stat(call, path).catch((err: unknown) => {
    if (err instanceof PaddockApiError && err.status === 404) return undefined;
    throw err;
  });
  if (existing) throw new ConnectError("already_exists", `${path} exists already`);
  const entry = await call.client.json("POST", files(call, "/mkdir"), FileEntrySchema, {
    query: { path, parents: true },
  });
  return { entry: entryInfo(entry) };
}

async function move(message: unknown, call: EnvdCall) {
  const req = parseMessage(MoveRequest, message, "MoveRequest");
  const entry = await call.client.json("POST", files(call, "/rename"), FileEntrySchema, {
    json: { from: resolvePath(req.source, call.user), to: resolvePath(req.destination, call.user) },
  });
  return { entry: entryInfo(entry) };
}

async function remove(message: unknown, call: EnvdCall) {
  const path = resolvePath(parseMessage(PathRequest, message, "RemoveRequest").path, call.user);
  await call.client.call("DELETE", files(call), { query: { path, recursive: true } });
  return {};
}

/** A directory's entries down to `depth` levels (envd's default and minimum: 1). */
async function listDir(message: unknown, call: EnvdCall) {
  const req = parseMessage(ListDirRequest, message, "ListDirRequest");
  const root = resolvePath(req.path, call.user);
  const depth = Math.max(1, req.depth);
  const top = await stat(call, root);
  if (top.type !== "dir") throw new ConnectError("invalid_argument", `${root} is not a directory`);
  const entries: FileEntry[] = [];
  let level = [root];
  let listed = 0;
  for (let d = 1; d <= depth && level.length > 0; d++) {
    const next: string[] = [];
    for (const dir of level) {
      if (++listed > MAX_LISTED_DIRS) {
        throw new ConnectError(
          "resource_exhausted",
          `more than ${MAX_LISTED_DIRS} directories: ask for less depth`,
        );
      }
      const { entries: found } = await call.client.json(
        "GET",
        files(call, "/list"),
        FileListSchema,
        {
          query: { path: dir },
          signal: call.signal,
        },
      );
      entries.push(...found);
      next.push(...found.filter((e) => e.type === "dir").map((e) => e.path));
    }
    level = next;
  }
  return { entries: entries.map(entryInfo) };
}

export const filesystemMethods: Record<string, EnvdMethod> = {
  Stat: { kind: "unary", handler: statMethod },
  MakeDir: { kind: "unary", handler: makeDir },
  Move: { kind: "unary", handler: move },
  Remove: { kind: "unary", handler: remove },
  ListDir: { kind: "unary", handler: listDir },
  WatchDir: { kind: "stream", handler: watchDir },
};
