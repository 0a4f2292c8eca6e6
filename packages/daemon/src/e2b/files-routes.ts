import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import { FileEntrySchema } from "@paddock/protocol";
import { DaemonClient } from "./daemon-client.js";
import { resolvePath } from "./envd-call.js";
import { RestError, toRestError } from "./errors.js";

/** Who a /files request acts for. */
export interface FilesCaller {
  client: DaemonClient;
  sandboxId: string;
  /** From the Authorization header; `username` in the query wins, as in envd. */
  user: string;
}

/** A multipart part up to this size is read whole before it goes on (see smallWhole). */
const SMALL_PART_BYTES = 256 * 1024;
/** Parts of one multipart upload at most (the SDK sends one per written file). */
const MAX_PARTS = 10_000;

function sendError(res: ServerResponse, err: unknown): void {
  const { status, body } = toRestError(err);
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * envd's `/files`: GET downloads `path` (streamed), POST uploads either the raw body
 * (application/octet-stream) to `path` or each part of a multipart form to its filename (or to
 * `path`). Every byte goes through Paddock's file API, streamed, never held whole.
 */
export async function filesRoute(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  caller: FilesCaller,
): Promise<void> {
  const user = url.searchParams.get("username") || caller.user;
  const target = url.searchParams.get("path");
  const path = (p: string) => resolvePath(p, user);
  const filesPath = DaemonClient.sandbox(caller.sandboxId, "/files");
  const gone = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) gone.abort();
  });
  try {
    if (req.method === "GET") {
      if (!target) throw new RestError(400, "path is required");
      const answer = await caller.client.send("GET", filesPath, {
        query: { path: path(target) },
        signal: gone.signal,
      });
      const headers: Record<string, string> = { "content-type": "application/octet-stream" };
      const length = answer.headers["content-length"];
      if (length) headers["content-length"] = length;
      res.writeHead(200, headers);
      await pipeline(answer, res);
      return;
    }
    if (req.method !== "POST") throw new RestError(405, "/files takes GET and POST");
    const upload = async (to: string, body: Readable | Buffer, length?: number) => {
      const entry = await caller.client.json("PUT", filesPath, FileEntrySchema, {
        query: { path: path(to) },
        body,
        contentLength: length,
        signal: gone.signal,
      });
      return { name: entry.name, type: "file", path: entry.path };
    };
    const type = String(req.headers["content-type"] ?? "");
    if (!type.startsWith("multipart/form-data")) {
      if (!target) throw new RestError(400, "path is required for an octet-stream upload");
      const length = req.headers["content-length"]
        ? Number(req.headers["content-length"])
        : undefined;
      const written = await upload(target, req, length);
      const text = JSON.stringify([written]);
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(text);
    }
    const written = await multipart(req, (name, stream) => {
      const to = target ?? name;
      if (!to) throw new RestError(400, "a part without a filename and no path in the query");
      return smallWhole(stream).then((body) => upload(to, body));
    });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(written));
  } catch (err) {
    sendError(res, err);
  }
}

/**
 * A part whole when it is small (the SDK sends most files in parts of a few KiB), so it goes on
 * with its length; a larger one streams on from where it was, never held whole.
 */
async function smallWhole(stream: Readable): Promise<Buffer | Readable> {
  const iterator = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return Buffer.concat(chunks);
    chunks.push(next.value);
    size += next.value.length;
    if (size > SMALL_PART_BYTES) {
      return Readable.from(
        (async function* () {
          yield* chunks;
          for (let more = await iterator.next(); !more.done; more = await iterator.next()) {
            yield more.value;
          }
        })(),
      );
    }
  }
}

/** Each file part of a multipart body, in order, handed to `write` as it streams in. */
function multipart<T>(
  req: IncomingMessage,
  write: (filename: string | undefined, stream: Readable) => Promise<T>,
): Promise<T[]> {
  return new Promise<T[]>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, preservePath: true, limits: { files: MAX_PARTS } });
    } catch (err) {
      return reject(new RestError(400, `not a multipart form: ${(err as Error).message}`));
    }
    const results: Promise<T>[] = [];
    let chain: Promise<unknown> = Promise.resolve();
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      req.unpipe(parser);
      req.resume();
      reject(err);
    };
    parser.on("file", (_field, stream, info) => {
      // One file at a time: each waits for the one before it, so they land in order.
      const done = chain.then(() => write(info.filename, stream));
      chain = done.catch(() => {});
      done.catch((err: unknown) => {
        stream.resume();
        fail(err);
      });
      results.push(done);
    });
    parser.on("error", (err) =>
      fail(new RestError(400, `a broken multipart form: ${(err as Error).message}`)),
    );
    parser.on("close", () => {
      if (!failed) Promise.all(results).then(resolve, fail);
    });
    req.pipe(parser);
  });
}
