/**
 * Frames on the DNS_UPGRADE connection, the same both ways: an 8-byte header (big-endian u32
 * tag, u16 flags, u16 length) and `length` bytes of one raw DNS message. The agent tags each
 * query it carries; the daemon answers with a frame of the same tag, in any order, so many
 * queries can be in flight on one connection. A query may go unanswered: the agent forgets it
 * after a while and the sandbox's resolver asks again.
 */
export const DNS_FRAME_HEADER_BYTES = 8;

/** Flags of a query frame. */
export const DNS_FRAME_FLAGS = {
  /** Came over UDP: the answer must fit the client's UDP size (else it is truncated, TC set). */
  udp: 1,
} as const;

export interface DnsFrame {
  tag: number;
  flags: number;
  message: Uint8Array;
}

/** One frame's bytes; a message is at most 65535 bytes (DNS over TCP's own limit). */
export function encodeDnsFrame(frame: DnsFrame): Uint8Array {
  if (frame.message.length > 0xffff) throw new RangeError("a DNS message is at most 65535 bytes");
  const out = new Uint8Array(DNS_FRAME_HEADER_BYTES + frame.message.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, frame.tag >>> 0);
  view.setUint16(4, frame.flags & 0xffff);
  view.setUint16(6, frame.message.length);
  out.set(frame.message, DNS_FRAME_HEADER_BYTES);
  return out;
}

/**
 * Cuts a byte stream into frames. Chunks are kept as they come and copied once, when a whole
 * frame is in: a peer writing a byte at a time costs linear work, not a copy per byte. It
 * holds at most one incomplete frame (65543 bytes).
 */
export class DnsFrameReader {
  private chunks: Uint8Array[] = [];
  private size = 0;

  push(chunk: Uint8Array): DnsFrame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    const frames: DnsFrame[] = [];
    while (this.size >= DNS_FRAME_HEADER_BYTES) {
      const header = new DataView(this.peek(DNS_FRAME_HEADER_BYTES).buffer);
      const length = header.getUint16(6);
      if (this.size < DNS_FRAME_HEADER_BYTES + length) break;
      this.take(DNS_FRAME_HEADER_BYTES);
      frames.push({
        tag: header.getUint32(0),
        flags: header.getUint16(4),
        message: this.take(length),
      });
    }
    return frames;
  }

  /** A copy of the first `n` buffered bytes (n <= size). */
  private peek(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    for (const chunk of this.chunks) {
      if (at === n) break;
      const part = chunk.subarray(0, n - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** The first `n` buffered bytes, removed from the buffer. */
  private take(n: number): Uint8Array {
    const out = this.peek(n);
    let used = 0;
    let left = n;
    while (left > 0 && this.chunks[used]!.length <= left) left -= this.chunks[used++]!.length;
    this.chunks.splice(0, used); // once: shifting chunk by chunk would be quadratic
    if (left > 0) this.chunks[0] = this.chunks[0]!.subarray(left);
    this.size -= n;
    return out;
  }
}
