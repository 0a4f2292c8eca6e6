import { open, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { pipeline, Readable, Transform } from "node:stream";
import { errnoOf, localError } from "./errors.js";

/**
 * What can be uploaded: a local file path (string or file: URL), bytes, a Node Readable or a
 * web ReadableStream. Never read whole into memory (except bytes, which already are).
 */
export type UploadSource = string | URL | Uint8Array | Readable | ReadableStream<Uint8Array>;

/** A request body the SDK sends: bytes, or a stream (Node's own streams need no conversion). */
export type Body = Uint8Array | Readable | ReadableStream<Uint8Array>;

export interface OpenedSource {
  stream: Body;
  /** Known for paths and bytes; unknown for streams. */
  size: number | undefined;
}

/**
 * Opens what is to be uploaded. A local file that is missing, not a regular file or not readable
 * is an InvalidRequestError here, before any request is sent; one that fails while it is read
 * fails the request with its own error (see HttpClient.send).
 */
export async function openSource(source: UploadSource): Promise<OpenedSource> {
  if (typeof source === "string" || source instanceof URL) {
    if (source instanceof URL && source.protocol !== "file:")
      throw localError("invalid_request", `only file: URLs name a local file, not ${source.href}`);
    const file = typeof source === "string" ? source : fileURLToPath(source);
    // stat first: opening a FIFO to find out what it is would wait for a writer.
    const st = await stat(file).catch((err: unknown) => {
      throw localFileError(file, err);
    });
    if (!st.isFile())
      throw localError("invalid_request", `${file} is not a regular file`, { localPath: file });
    const handle = await open(file, "r").catch((err: unknown) => {
      throw localFileError(file, err);
    });
    // 1 MiB reads: a sixteenth of the default's chunks, each of which costs a trip.
    return { stream: handle.createReadStream({ highWaterMark: 1024 * 1024 }), size: st.size };
  }
  if (source instanceof Uint8Array) return { stream: source, size: source.length };
  return { stream: source, size: undefined };
}

/** Wraps a body so each chunk passing through reports the running byte count. */
export function withProgress<B extends Body>(
  body: B,
  onProgress: ((bytes: number) => void) | undefined,
): B | Readable {
  if (!onProgress) return body;
  let seen = 0;
  const count = (chunk: Uint8Array) => {
    seen += chunk.length;
    onProgress(seen);
    return chunk;
  };
  if (body instanceof ReadableStream) {
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => controller.enqueue(count(chunk)),
      }),
    ) as B;
  }
  const counter = new Transform({
    transform: (chunk: Buffer, _enc, done) => done(null, count(chunk)),
  });
  // pipeline passes a source's failure on to the counter, which the request is reading.
  pipeline(body instanceof Uint8Array ? Readable.from([body]) : body, counter, () => {});
  return counter;
}

/** A local file that cannot be read, as the caller's bad argument. */
export function localFileError(file: string, err: unknown) {
  const errno = errnoOf(err);
  const why =
    errno === "ENOENT" ? "there is no such file" : errno === "EACCES" ? "permission denied" : errno;
  return localError(
    "invalid_request",
    `cannot read the local file ${file}: ${why ?? String(err)}`,
    { localPath: file, errno },
    err,
  );
}
