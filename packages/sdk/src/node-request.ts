import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

export interface NodeRequestInit {
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array | Readable | ReadableStream<Uint8Array>;
  signal?: AbortSignal;
}

/**
 * The SDK's own transport, node:http, answering with a fetch Response. fetch copies every chunk
 * of a streamed body into a web stream (for a large upload that cost more CPU and garbage
 * collection than the sending itself) and adds about a millisecond to each call, which is a
 * tenth of an exec. A fetch given in ClientOptions is used as given instead.
 */
export function nodeRequest(url: URL, init: NodeRequestInit): Promise<Response> {
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
    const body =
      init.body instanceof ReadableStream
        ? Readable.fromWeb(init.body as import("node:stream/web").ReadableStream<Uint8Array>)
        : init.body;
    if (body instanceof Readable) {
      body.once("error", (err) => request.destroy(err));
      body.pipe(request);
    } else {
      request.end(body);
    }
  });
}
