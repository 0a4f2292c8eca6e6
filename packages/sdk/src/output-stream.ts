/** Bytes an unread stream keeps (its most recent output) before dropping the oldest. */
export const UNREAD_LIMIT_BYTES = 4 * 1024 * 1024;
/** Bytes a stream being read may queue before the whole event stream waits for the reader. */
const READ_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * One output stream (stdout or stderr) of a sandbox process, as an async iterable of chunks.
 *
 * While something reads it (iteration or `text()`), nothing is lost: when its queue is full the
 * SDK stops reading from the daemon, which pauses the process's pipe in the sandbox. While
 * nothing reads it, it keeps only its most recent 4 MiB, so an unread stream never blocks the
 * other one and memory stays bounded.
 */
export class OutputStream implements AsyncIterable<Uint8Array> {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private ended = false;
  private failure: unknown;
  private reading = false;
  /** Bytes dropped while nobody was reading. */
  droppedBytes = 0;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;

  /** Called by the event reader; resolves when there is room again. */
  async push(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.wakeReader?.();
    if (!this.reading) {
      while (this.bytes > UNREAD_LIMIT_BYTES && this.chunks.length > 1) {
        const old = this.chunks.shift()!;
        this.bytes -= old.length;
        this.droppedBytes += old.length;
      }
      return;
    }
    while (this.reading && this.bytes > READ_HIGH_WATER_BYTES) {
      await new Promise<void>((resolve) => (this.wakeWriter = resolve));
    }
  }

  end(err?: unknown): void {
    this.ended = true;
    this.failure = err;
    this.wakeReader?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    this.reading = true;
    try {
      for (;;) {
        const chunk = this.chunks.shift();
        if (chunk) {
          this.bytes -= chunk.length;
          if (this.bytes <= READ_HIGH_WATER_BYTES) this.wakeWriter?.();
          yield chunk;
          continue;
        }
        if (this.ended) {
          if (this.failure) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      // A reader that stops early must not stall the process: back to keep-the-tail mode.
      this.reading = false;
      this.wakeWriter?.();
    }
  }

  /** All remaining output as text (UTF-8). */
  async text(): Promise<string> {
    const decoder = new TextDecoder();
    let out = "";
    for await (const chunk of this) out += decoder.decode(chunk, { stream: true });
    return out + decoder.decode();
  }

  /** All remaining output as bytes. */
  async bytesAll(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const chunk of this) parts.push(chunk);
    return Buffer.concat(parts);
  }
}
