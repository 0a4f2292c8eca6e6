/** A DNS header is 12 bytes: id, flags, then the four section counts. */
export const DNS_HEADER_BYTES = 12;

/**
 * Where the question section of `message` ends, or undefined when the message is cut short.
 * Names in a question are label sequences; a compression pointer (two bytes) ends one.
 */
function questionEnd(message: Uint8Array): number | undefined {
  const view = new DataView(message.buffer, message.byteOffset, message.length);
  const count = view.getUint16(4);
  let at = DNS_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    for (;;) {
      if (at >= message.length) return undefined;
      const length = message[at]!;
      if (length === 0) {
        at += 1;
        break;
      }
      if ((length & 0xc0) === 0xc0) {
        at += 2;
        break;
      }
      if ((length & 0xc0) !== 0) return undefined;
      at += 1 + length;
    }
    at += 4; // type and class
  }
  return at <= message.length ? at : undefined;
}

/**
 * The SERVFAIL answer to `query` (at least a header long): its id, opcode, RD and question
 * (resolvers such as glibc's ignore an answer whose question differs), nothing else.
 */
export function servfail(query: Uint8Array): Buffer {
  const end = questionEnd(query);
  const answer = Buffer.from(query.subarray(0, end ?? DNS_HEADER_BYTES));
  answer[2] = 0x80 | (query[2]! & 0x79); // QR; opcode and RD kept; AA and TC clear
  answer[3] = 0x80 | 2; // RA; rcode 2, SERVFAIL
  if (end === undefined) answer.writeUInt16BE(0, 4);
  answer.writeUInt16BE(0, 6);
  answer.writeUInt16BE(0, 8);
  answer.writeUInt16BE(0, 10);
  return answer;
}
