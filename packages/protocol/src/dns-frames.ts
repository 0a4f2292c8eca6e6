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
 * Cuts a byte stream into frames. It holds at most one incomplete frame (65543 bytes), since
 * every complete one is handed out as soon as its bytes are in.
 */
export class DnsFrameReader {
  private pending = new Uint8Array(0);

  push(chunk: Uint8Array): DnsFrame[] {
    let bytes = chunk;
    if (this.pending.length > 0) {
      bytes = new Uint8Array(this.pending.length + chunk.length);
      bytes.set(this.pending);
      bytes.set(chunk, this.pending.length);
    }
    const frames: DnsFrame[] = [];
    let at = 0;
    while (bytes.length - at >= DNS_FRAME_HEADER_BYTES) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, DNS_FRAME_HEADER_BYTES);
      const end = at + DNS_FRAME_HEADER_BYTES + view.getUint16(6);
      if (bytes.length < end) break;
      frames.push({
        tag: view.getUint32(0),
        flags: view.getUint16(4),
        message: bytes.slice(at + DNS_FRAME_HEADER_BYTES, end),
      });
      at = end;
    }
    this.pending = bytes.slice(at);
    return frames;
  }
}
