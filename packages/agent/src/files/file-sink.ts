import { closeSync, openSync, writevSync } from "node:fs";
import { Writable } from "node:stream";
import { AgentError } from "../router.js";

/**
 * A file writer that writes on the agent's own thread, gathering what arrived meanwhile into
 * one writev. fs.createWriteStream sends every chunk through libuv's thread pool; under gVisor
 * each such hop costs far more than the write itself, which made uploads several times slower.
 */
export class FileSink extends Writable {
  private fd: number | undefined;

  private written = 0;

  constructor(
    private readonly path: string,
    private readonly mode = 0o600,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    try {
      this.fd = openSync(this.path, "wx", this.mode);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this._writev([{ chunk }], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    try {
      let buffers = chunks.map((c) => c.chunk);
      let left = buffers.reduce((n, b) => n + b.length, 0);
      this.written += left;
      if (this.written > this.maxBytes) {
        throw new AgentError(
          "payload_too_large",
          `uploads are limited to ${this.maxBytes} bytes; nothing was kept`,
        );
      }
      while (left > 0) {
        const written = writevSync(this.fd!, buffers);
        left -= written;
        if (left > 0) buffers = remainder(buffers, written);
      }
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    try {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
      callback(error);
    } catch (err) {
      callback(error ?? (err as Error));
    }
  }
}

/** The buffers left after `written` bytes of a short writev. */
function remainder(buffers: Buffer[], written: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (written >= b.length) {
      written -= b.length;
      continue;
    }
    out.push(written > 0 ? b.subarray(written) : b);
    written = 0;
  }
  return out;
}
