import { timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";
import { PORT_TOKEN_HEADER, PORT_TOKEN_QUERY } from "@paddock/protocol";

const MAX_HEAD_BYTES = 16 * 1024;

/** The token in an HTTP request head: the header, else the query parameter. */
export function tokenInRequestHead(head: string): string | undefined {
  const [requestLine = "", ...headerLines] = head.split("\r\n");
  for (const line of headerLines) {
    const at = line.indexOf(":");
    if (at > 0 && line.slice(0, at).trim().toLowerCase() === PORT_TOKEN_HEADER)
      return line.slice(at + 1).trim();
  }
  const target = requestLine.split(" ")[1] ?? "";
  const query = target.indexOf("?");
  if (query < 0) return undefined;
  return new URLSearchParams(target.slice(query + 1)).get(PORT_TOKEN_QUERY) ?? undefined;
}

const same = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Reads the first HTTP request head of a connection and checks its token. Resolves with the
 * bytes read (to be forwarded as they were) when it matches; answers 401 and closes otherwise.
 */
export function checkHttpToken(client: Socket, token: string): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const deny = (status: string, why: string) => {
      client.off("data", onData);
      client.end(
        `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(why)}\r\n\r\n${why}`,
      );
      resolve(undefined);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buffered.length > MAX_HEAD_BYTES)
          deny("431 Request Header Fields Too Large", "request head too large\n");
        return;
      }
      const given = tokenInRequestHead(buffered.subarray(0, end).toString("latin1"));
      if (!given || !same(given, token)) {
        return deny(
          "401 Unauthorized",
          `this port needs its token: header ${PORT_TOKEN_HEADER} or ?${PORT_TOKEN_QUERY}=\n`,
        );
      }
      client.off("data", onData);
      client.pause();
      resolve(buffered);
    };
    client.on("data", onData);
    client.once("close", () => resolve(undefined));
    client.resume();
  });
}
