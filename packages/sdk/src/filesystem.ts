import { lstat, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { Readable } from "node:stream";
import {
  BatchResultsSchema,
  FileEntrySchema,
  FileListSchema,
  FindRequestSchema,
  FindResultSchema,
  ModeSchema,
  ReplaceRequestSchema,
  ReplaceResultSchema,
  SandboxPathSchema,
  SIZE_HINT_HEADER,
  type BatchResult,
  type FileEntry,
  type FindMatch,
} from "@paddock/protocol";
import { checkArgument, cutError, localError } from "./errors.js";
import type { HttpClient } from "./http.js";
import {
  makeLocalDir,
  extractLocal,
  packLocal,
  pipeToWritable,
  walkLocal,
  writeLocalAtomic,
  type PackEntry,
} from "./local-files.js";
import { localFileError, openSource, withProgress, type UploadSource } from "./sources.js";
import { openWatch, type DirectoryWatch, type WatchOptions } from "./watch.js";

export interface TransferOptions {
  /** Called as bytes go by, with the running total (and the size when known). */
  onProgress?: (bytes: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export interface UploadOptions extends TransferOptions {
  /** Permission bits, e.g. 0o755; default: the replaced file's, else 0o644. */
  mode?: number;
  /** Create missing parent directories (default true). */
  createParents?: boolean;
}

/** A batch entry: a remote absolute path and a local path or bytes. */
export interface BatchUpload {
  path: string;
  source: string | URL | Uint8Array;
  mode?: number;
}

const READ_FILE_LIMIT = 64 * 1024 * 1024;

/** A path in the sandbox, checked as the daemon would before anything is sent. */
const sandboxPath = (p: string, what = "path"): string => checkArgument(SandboxPathSchema, p, what);
/** Permission bits as the query wants them (octal text), checked first. */
const modeText = (mode: number | undefined): string | undefined =>
  mode === undefined ? undefined : checkArgument(ModeSchema, mode, "mode").toString(8);

/** A local directory that is to be read from: there, and a directory. */
async function checkLocalDir(dir: string): Promise<void> {
  const st = await stat(dir).catch((err: unknown) => {
    throw localFileError(dir, err);
  });
  if (!st.isDirectory())
    throw localError("invalid_request", `${dir} is not a directory`, { localPath: dir });
}

/** Bytes out of a sandbox are cut when its agent or the daemon goes away mid-way. */
const cutDownload = (what: string, signal: AbortSignal | undefined) => (err: unknown) =>
  cutError(err, what, "agent_unavailable", signal);

/**
 * Files in one sandbox: `sandbox.fs`. Every operation is done by the agent inside the sandbox,
 * so what you write is exactly what the sandbox's processes see, on gVisor and on runc.
 *
 * @example
 * ```ts
 * await sandbox.fs.writeFile("/app/main.py", "print('hi')\n");
 * const { stdout } = await (await sandbox.process.exec("python3", "/app/main.py")).output();
 * ```
 */
export class Filesystem {
  /** @internal */
  constructor(
    private readonly http: HttpClient,
    private readonly base: string,
  ) {}

  /**
   * Uploads one file, streamed: a local path, bytes, a Node Readable or a web ReadableStream.
   * It lands atomically (a reader sees the old file or the new one); parents are created.
   *
   * @example
   * ```ts
   * await sandbox.fs.uploadFile("./model.bin", "/data/model.bin");
   * await sandbox.fs.uploadFile(Buffer.from("#!/bin/sh\necho hi\n"), "/usr/local/bin/hi", { mode: 0o755 });
   * ```
   */
  async uploadFile(
    source: UploadSource,
    remotePath: string,
    options: UploadOptions = {},
  ): Promise<FileEntry> {
    const query = {
      path: sandboxPath(remotePath, "remotePath"),
      mode: modeText(options.mode),
      parents: String(options.createParents ?? true),
    };
    const opened = await openSource(source);
    const body = withProgress(
      opened.stream,
      options.onProgress && ((n) => options.onProgress!(n, opened.size)),
    );
    return this.http.json("PUT", `${this.base}`, FileEntrySchema, {
      query,
      body,
      contentLength: opened.size,
      signal: options.signal,
    });
  }

  /**
   * Writes small content (text or bytes) to a file, atomically.
   *
   * @example
   * ```ts
   * await sandbox.fs.writeFile("/etc/app.conf", "debug = true\n");
   * ```
   */
  writeFile(
    path: string,
    content: string | Uint8Array,
    options: Omit<UploadOptions, "onProgress"> = {},
  ): Promise<FileEntry> {
    return this.uploadFile(
      typeof content === "string" ? new TextEncoder().encode(content) : content,
      path,
      options,
    );
  }

  /**
   * Reads a small file (at most 64 MiB) as text, or as bytes with `{ format: "bytes" }`.
   *
   * @example
   * ```ts
   * const text = await sandbox.fs.readFile("/etc/os-release");
   * ```
   */
  readFile(path: string, options?: { format?: "text"; signal?: AbortSignal }): Promise<string>;
  readFile(path: string, options: { format: "bytes"; signal?: AbortSignal }): Promise<Uint8Array>;
  async readFile(
    path: string,
    options: { format?: "text" | "bytes"; signal?: AbortSignal } = {},
  ): Promise<string | Uint8Array> {
    const res = await this.http.send("GET", this.base, {
      query: { path: sandboxPath(path) },
      signal: options.signal,
    });
    const tooLarge = (size: number | undefined) =>
      localError(
        "payload_too_large",
        `${path} is ${size ?? `over ${READ_FILE_LIMIT}`} bytes; readFile reads at most ${READ_FILE_LIMIT}: use downloadFile`,
        { path, limit: READ_FILE_LIMIT },
      );
    const size = Number(res.headers.get(SIZE_HINT_HEADER) ?? 0);
    if (size > READ_FILE_LIMIT) {
      await res.body?.cancel().catch(() => {});
      throw tooLarge(size);
    }
    // The size is only a hint (pseudo-files report none), so the cap is kept while reading.
    const chunks: Uint8Array[] = [];
    let read = 0;
    try {
      for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
        read += chunk.length;
        if (read > READ_FILE_LIMIT) {
          await res.body?.cancel().catch(() => {});
          throw tooLarge(undefined);
        }
        chunks.push(chunk);
      }
    } catch (err) {
      throw cutError(err, `the read of ${path}`, "agent_unavailable", options.signal);
    }
    const bytes = new Uint8Array(Buffer.concat(chunks));
    return options.format === "bytes" ? bytes : new TextDecoder().decode(bytes);
  }

  /**
   * Downloads a file, streamed, to a local path (written atomically) or into a Writable.
   *
   * @example
   * ```ts
   * await sandbox.fs.downloadFile("/data/out.csv", "./out.csv");
   * ```
   */
  async downloadFile(
    remotePath: string,
    destination: string | Writable,
    options: TransferOptions = {},
  ): Promise<void> {
    const query = { path: sandboxPath(remotePath, "remotePath") };
    // The destination's directory is checked first, so a typo fails before the transfer.
    if (typeof destination === "string") await checkLocalDir(path.dirname(destination));
    const res = await this.http.send("GET", this.base, { query, signal: options.signal });
    const total = Number(res.headers.get(SIZE_HINT_HEADER) ?? Number.NaN);
    const source = res.body
      ? Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>)
      : Readable.from([]);
    const body = withProgress(
      source,
      options.onProgress &&
        ((n) => options.onProgress!(n, Number.isNaN(total) ? undefined : total)),
    );
    const readFailure = cutDownload(`the download of ${remotePath}`, options.signal);
    if (typeof destination === "string")
      await writeLocalAtomic(destination, body, undefined, readFailure);
    else await pipeToWritable(body, destination, readFailure);
  }

  /**
   * Describes a path: name, type (file, dir, symlink, other), size, mode, owner, mtime and a
   * symlink's target. Throws FileNotFoundError if there is nothing there.
   *
   * @example
   * ```ts
   * const { size, mode } = await sandbox.fs.statFile("/app/main.py");
   * ```
   */
  async statFile(path: string): Promise<FileEntry> {
    return this.http.json("GET", `${this.base}/stat`, FileEntrySchema, {
      query: { path: sandboxPath(path) },
    });
  }

  /**
   * Lists a directory's children.
   *
   * @example
   * ```ts
   * for (const entry of await sandbox.fs.listFiles("/app")) console.log(entry.name, entry.type);
   * ```
   */
  async listFiles(path: string): Promise<FileEntry[]> {
    const query = { path: sandboxPath(path) };
    return (await this.http.json("GET", `${this.base}/list`, FileListSchema, { query })).entries;
  }

  /**
   * Deletes a file, or a directory (`recursive: true` for one that is not empty).
   *
   * @example
   * ```ts
   * await sandbox.fs.deleteFile("/tmp/build", { recursive: true });
   * ```
   */
  async deleteFile(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.http.send("DELETE", this.base, {
      query: { path: sandboxPath(path), recursive: String(options.recursive ?? false) },
    });
  }

  /**
   * Creates a directory (and its parents, by default).
   *
   * @example
   * ```ts
   * await sandbox.fs.createDirectory("/app/data", { mode: 0o700 });
   * ```
   */
  async createDirectory(
    path: string,
    options: { mode?: number; parents?: boolean } = {},
  ): Promise<FileEntry> {
    return this.http.json("POST", `${this.base}/mkdir`, FileEntrySchema, {
      query: {
        path: sandboxPath(path),
        mode: modeText(options.mode),
        parents: String(options.parents ?? true),
      },
    });
  }

  /** Renames or moves a path. */
  async rename(from: string, to: string): Promise<FileEntry> {
    const json = { from: sandboxPath(from, "from"), to: sandboxPath(to, "to") };
    return this.http.json("POST", `${this.base}/rename`, FileEntrySchema, { json });
  }

  /** Sets permission bits, e.g. `chmod("/app/run.sh", 0o755)`. */
  async chmod(path: string, mode: number): Promise<FileEntry> {
    const json = { path: sandboxPath(path), mode: checkArgument(ModeSchema, mode, "mode") };
    return this.http.json("POST", `${this.base}/chmod`, FileEntrySchema, { json });
  }

  /**
   * Uploads many files in one stream; each lands atomically and gets its own result.
   *
   * @example
   * ```ts
   * const results = await sandbox.fs.uploadFiles([
   *   { path: "/app/a.py", source: Buffer.from("print(1)") },
   *   { path: "/app/run.sh", source: "./run.sh", mode: 0o755 },
   * ]);
   * ```
   */
  async uploadFiles(
    files: BatchUpload[],
    options: { signal?: AbortSignal } = {},
  ): Promise<BatchResult[]> {
    const entries: PackEntry[] = [];
    for (const [i, f] of files.entries()) {
      const remote = checkArgument(SandboxPathSchema, f.path, `files.${i}.path`);
      const mode =
        f.mode === undefined ? undefined : checkArgument(ModeSchema, f.mode, `files.${i}.mode`);
      // A local file that is not there fails here, not half-way through the upload.
      if (!(f.source instanceof Uint8Array)) {
        const local = String(f.source instanceof URL ? f.source.pathname : f.source);
        await lstat(f.source).catch((err: unknown) => {
          throw localFileError(local, err);
        });
      }
      entries.push({ name: remote.slice(1), source: f.source, mode });
    }
    return this.putArchive("/", packLocal(entries), options.signal);
  }

  /**
   * Uploads a local directory's contents into a directory of the sandbox, in one stream.
   *
   * @example
   * ```ts
   * await sandbox.fs.uploadDirectory("./src", "/app/src");
   * ```
   */
  async uploadDirectory(
    localDir: string,
    remoteDir: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<BatchResult[]> {
    sandboxPath(remoteDir, "remoteDir");
    await checkLocalDir(localDir);
    return this.putArchive(remoteDir, packLocal(walkLocal(localDir)), options.signal);
  }

  /**
   * Downloads a sandbox directory into a local one, in one stream. Returns the entry count.
   *
   * @example
   * ```ts
   * await sandbox.fs.downloadDirectory("/app/out", "./out");
   * ```
   */
  async downloadDirectory(
    remoteDir: string,
    localDir: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<number> {
    const query = { path: sandboxPath(remoteDir, "remoteDir") };
    // The local side is made ready first, so a bad destination fails before the transfer; a
    // refused download takes back the directories it made.
    const { made } = await makeLocalDir(localDir);
    const res = await this.http
      .send("GET", `${this.base}/archive`, { query, signal: options.signal })
      .catch(async (err: unknown) => {
        if (made) await rm(made, { recursive: true, force: true }).catch(() => {});
        throw err;
      });
    const body = res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    return extractLocal(body, localDir, cutDownload(`the archive of ${remoteDir}`, options.signal));
  }

  /**
   * Finds lines matching a regular expression under a path, optionally only in files whose
   * relative path matches a glob.
   *
   * @example
   * ```ts
   * const matches = await sandbox.fs.findInFiles("/app", "TODO", { glob: "**\/*.py" });
   * ```
   */
  async findInFiles(
    path: string,
    pattern: string,
    options: { glob?: string; maxMatches?: number } = {},
  ): Promise<FindMatch[] & { truncated?: boolean }> {
    const json = { path, pattern, ...options };
    checkArgument(FindRequestSchema, json, "find");
    const res = await this.http.json("POST", `${this.base}/find`, FindResultSchema, { json });
    return Object.assign(res.matches, { truncated: res.truncated });
  }

  /**
   * Replaces a regular expression in files (each rewritten atomically); returns those changed.
   *
   * @example
   * ```ts
   * const changed = await sandbox.fs.replaceInFiles(["/app/config.py"], "DEBUG = True", "DEBUG = False");
   * ```
   */
  async replaceInFiles(paths: string[], pattern: string, replacement: string): Promise<string[]> {
    const json = { paths, pattern, replacement };
    checkArgument(ReplaceRequestSchema, json, "replace");
    return (await this.http.json("POST", `${this.base}/replace`, ReplaceResultSchema, { json }))
      .changed;
  }

  /**
   * Watches a directory (`recursive`: and every directory below it) for changes: create,
   * write, remove, rename (on the old name; the new name comes as a create) and chmod. Resolves
   * once the watch is in place; a path that is not a directory fails here.
   *
   * @example
   * ```ts
   * const watch = await sandbox.fs.watch("/app", { recursive: true });
   * for await (const event of watch) {
   *   console.log(event.type, event.name); // "create src/main.py"
   *   if (event.type === "remove") break; // leaving the loop stops the watch
   * }
   * ```
   */
  async watch(path: string, options: WatchOptions = {}): Promise<DirectoryWatch> {
    return openWatch(this.http, `${this.base}/watch`, sandboxPath(path), options);
  }

  private async putArchive(
    remoteDir: string,
    tar: Readable,
    signal?: AbortSignal,
  ): Promise<BatchResult[]> {
    const res = await this.http.json("PUT", `${this.base}/archive`, BatchResultsSchema, {
      query: { path: remoteDir },
      body: tar,
      contentType: "application/x-tar",
      signal,
    });
    return res.results;
  }
}
