import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";

/**
 * What can be uploaded: a local file path (string or file: URL), bytes, a Node Readable or a
 * web ReadableStream. Never read whole into memory (except bytes, which already are).
 */
export type UploadSource = string | URL | Uint8Array | Readable | ReadableStream<Uint8Array>;

export interface OpenedSource {
  stream: ReadableStream<Uint8Array> | Uint8Array;
  /** Known for paths and bytes; unknown for streams. */
  size: number | undefined;
}

export async function openSource(source: UploadSource): Promise<OpenedSource> {
  if (typeof source === "string" || source instanceof URL) {
    const st = await stat(source);
    if (!st.isFile()) throw new Error(`${String(source)} is not a regular file`);
    return {
      stream: Readable.toWeb(createReadStream(source)) as ReadableStream<Uint8Array>,
      size: st.size,
    };
  }
  if (source instanceof Uint8Array) return { stream: source, size: source.length };
  if (source instanceof Readable)
    return { stream: Readable.toWeb(source) as ReadableStream<Uint8Array>, size: undefined };
  return { stream: source, size: undefined };
}

/** Wraps a stream so each chunk passing through reports the running byte count. */
export function withProgress(
  stream: ReadableStream<Uint8Array> | Uint8Array,
  onProgress: ((bytes: number) => void) | undefined,
): ReadableStream<Uint8Array> | Uint8Array {
  if (!onProgress) return stream;
  let seen = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.length;
      onProgress(seen);
      controller.enqueue(chunk);
    },
  });
  const source =
    stream instanceof Uint8Array
      ? (Readable.toWeb(Readable.from([stream])) as ReadableStream<Uint8Array>)
      : stream;
  return source.pipeThrough(counter);
}
