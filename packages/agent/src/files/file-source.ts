import { readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";

const CHUNK_BYTES = 1024 * 1024;

/**
 * A file reader that reads on the agent's own thread, 1 MiB at a time, from the file's current
 * position. fs streams send every 64 KiB read through libuv's thread pool; under gVisor each
 * such hop costs far more than the read itself (the same reason as FileSink). Closes the file
 * when done or destroyed.
 */
export class FileSource extends Readable {
  constructor(private readonly handle: FileHandle) {
    super({ highWaterMark: CHUNK_BYTES });
  }

  override _read(): void {
    try {
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      const got = readSync(this.handle.fd, chunk, 0, CHUNK_BYTES, null);
      this.push(got === 0 ? null : chunk.subarray(0, got));
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => callback(error),
      (err: unknown) => callback(error ?? (err as Error)),
    );
  }
}
