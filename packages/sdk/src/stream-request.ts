import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

export interface StreamRequestInit {
  method: string;
  headers: Record<string, string>;
  body: Readable;
  signal?: AbortSignal;
}

/**
 * Sends a request whose body is a Node stream with node:http rather than fetch: fetch turns
 * each chunk into a web-stream chunk and copies it, which for a large upload cost more CPU and
 * garbage collection than the sending itself. The answer is a fetch Response like any other.
 */
export function streamRequest(url: URL, init: StreamRequestInit): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: init.method,
      headers: init.headers,
      signal: init.signal,
    });
    request.once("response", (res) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        for (const v of [value ?? []].flat()) headers.append(name, v);
      }
      const status = res.statusCode ?? 502;
      const empty = status === 204 || status === 304;
      if (empty) res.resume();
      const body = empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
      resolve(new Response(body, { status, headers }));
    });
    request.once("error", reject);
    init.body.once("error", (err) => request.destroy(err));
    init.body.pipe(request);
  });
}
