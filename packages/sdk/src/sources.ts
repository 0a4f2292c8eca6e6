import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline, Readable, Transform } from "node:stream";

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

export async function openSource(source: UploadSource): Promise<OpenedSource> {
  if (typeof source === "string" || source instanceof URL) {
    const st = await stat(source);
    if (!st.isFile()) throw new Error(`${String(source)} is not a regular file`);
    // 1 MiB reads: a sixteenth of the default's chunks, each of which costs a trip.
    return { stream: createReadStream(source, { highWaterMark: 1024 * 1024 }), size: st.size };
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
