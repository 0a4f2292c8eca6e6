import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The Connect protocol (connectrpc.com/docs/protocol), JSON codec only, as the e2b SDK speaks it
 * to envd: unary calls are a JSON POST answered with JSON (an error is a non-2xx status with
 * `{code, message}`); server-streaming calls carry enveloped messages (1 flag byte, 4 length
 * bytes big-endian, the JSON) both ways, the last one with flag 0x02 holding `{error?}`.
 *
 * Written here rather than taken from @connectrpc/connect-node: that route needs .proto files
 * compiled by buf at build time for two services whose JSON we map by hand anyway (every field
 * is translated from Paddock's shapes), and the part of the protocol the SDK uses is this file.
 */

/** Connect error codes (the protocol's names) and the HTTP status a unary error goes with. */
export const CONNECT_STATUS = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401,
} as const;
export type ConnectCode = keyof typeof CONNECT_STATUS;

export class ConnectError extends Error {
  constructor(
    readonly code: ConnectCode,
    message: string,
  ) {
    super(message);
  }
}

const END_STREAM = 0x02;
const COMPRESSED = 0x01;
/** The largest request message taken (a stdin chunk or a path; the SDK sends far less). */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/** What a handler gets besides the message: the caller's headers and when to stop. */
export interface CallContext {
  headers: IncomingMessage["headers"];
  /** Aborted when the client goes away or its Connect-Timeout-Ms runs out. */
  signal: AbortSignal;
  /** True once the deadline (Connect-Timeout-Ms) has passed. */
  deadlineExceeded(): boolean;
}

export type UnaryHandler = (message: unknown, ctx: CallContext) => Promise<unknown>;
export type StreamHandler = (message: unknown, ctx: CallContext) => AsyncIterable<unknown>;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) {
      throw new ConnectError(
        "resource_exhausted",
        `a request message is at most ${MAX_REQUEST_BYTES} bytes`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return {};
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ConnectError(
      "invalid_argument",
      "the request message is not JSON (use the JSON codec)",
    );
  }
}

/** Splits enveloped messages; the request of a server-streaming call holds exactly one. */
export function unwrapEnvelopes(bytes: Buffer): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 5) throw new ConnectError("invalid_argument", "a truncated envelope");
    const flags = bytes[at]!;
    const length = bytes.readUInt32BE(at + 1);
    if (bytes.length - at - 5 < length) {
      throw new ConnectError("invalid_argument", "an envelope longer than the request");
    }
    out.push({ flags, data: bytes.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

export function envelope(flags: number, value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), "utf8");
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

/** `{code, message}` for any failure: a ConnectError as is, anything else as internal. */
export function errorBody(err: unknown): { code: ConnectCode; message: string } {
  if (err instanceof ConnectError) return { code: err.code, message: err.message };
  return { code: "internal", message: err instanceof Error ? err.message : String(err) };
}

/** The call's signal: the client leaving, or the deadline it asked for. */
function callContext(req: IncomingMessage, res: ServerResponse): CallContext & { done(): void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished)
      controller.abort(new ConnectError("canceled", "the client went away"));
  };
  res.once("close", onClose);
  const timeout = Number(req.headers["connect-timeout-ms"]);
  let expired = false;
  const timer =
    Number.isFinite(timeout) && timeout > 0
      ? setTimeout(() => {
          expired = true;
          controller.abort(
            new ConnectError("deadline_exceeded", `the call's deadline of ${timeout} ms passed`),
          );
        }, timeout)
      : undefined;
  return {
    headers: req.headers,
    signal: controller.signal,
    deadlineExceeded: () => expired,
    done: () => {
      clearTimeout(timer);
      res.off("close", onClose);
    },
  };
}

/** Answers a unary call. */
export async function serveUnary(
  req: IncomingMessage,
  res: ServerResponse,
  handler: UnaryHandler,
): Promise<void> {
  const ctx = callContext(req, res);
  try {
    if (!String(req.headers["content-type"] ?? "").startsWith("application/json")) {
      throw new ConnectError(
        "invalid_argument",
        "send the JSON codec (content-type application/json)",
      );
    }
    const answer = await handler(parseJson(await readBody(req)), ctx);
    const body = JSON.stringify(answer ?? {});
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  } catch (err) {
    const body = errorBody(ctx.deadlineExceeded() ? ctx.signal.reason : err);
    if (res.headersSent) return void res.destroy();
    res.writeHead(CONNECT_STATUS[body.code], { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  } finally {
    ctx.done();
  }
}

/**
 * Answers a server-streaming call: each value the handler yields is one message, sent as it
 * comes (with backpressure); its failure or the deadline ends the stream with an error.
 */
export async function serveStream(
  req: IncomingMessage,
  res: ServerResponse,
  handler: StreamHandler,
): Promise<void> {
  const ctx = callContext(req, res);
  const contentType = "application/connect+json";
  let failure: unknown;
  try {
    if (!String(req.headers["content-type"] ?? "").startsWith(contentType)) {
      throw new ConnectError(
        "invalid_argument",
        `send the JSON codec (content-type ${contentType})`,
      );
    }
    const envelopes = unwrapEnvelopes(await readBody(req));
    if (envelopes.length !== 1 || envelopes[0]!.flags & COMPRESSED) {
      throw new ConnectError(
        "invalid_argument",
        "a streaming request holds one uncompressed message",
      );
    }
    const message = parseJson(envelopes[0]!.data);
    for await (const value of handler(message, ctx)) {
      if (!res.headersSent) {
        res.writeHead(200, { "content-type": contentType });
        res.socket?.setNoDelay(true);
      }
      if (!res.write(envelope(0, value))) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
      if (res.destroyed) return;
    }
  } catch (err) {
    failure = err;
  } finally {
    ctx.done();
  }
  // Past the deadline the call failed, however the handler ended.
  if (ctx.deadlineExceeded()) failure = ctx.signal.reason;
  if (res.destroyed) return;
  // Errors before the first message still go in the end-of-stream message: that is the protocol.
  if (!res.headersSent) res.writeHead(200, { "content-type": contentType });
  res.end(envelope(END_STREAM, failure === undefined ? {} : { error: errorBody(failure) }));
}

/**
 * The seconds between keepalive messages a client asks for (`Keepalive-Ping-Interval`, which
 * the e2b SDK sends on its streams); undefined when it asks for none.
 */
export function keepaliveMs(headers: CallContext["headers"]): number | undefined {
  const seconds = Number(headers["keepalive-ping-interval"]);
  return Number.isFinite(seconds) && seconds > 0 ? Math.max(1, seconds) * 1000 : undefined;
}

/**
 * `source`, with `ping` yielded whenever it has been silent for `everyMs`: a command that prints
 * nothing for minutes must not look like a dead connection to the client's body timeout.
 */
export async function* withKeepalive<T, P>(
  source: AsyncIterable<T>,
  everyMs: number | undefined,
  ping: P,
): AsyncGenerator<T | P> {
  if (everyMs === undefined) return yield* source;
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<"tick">((resolve) => (timer = setTimeout(resolve, everyMs, "tick")));
      const result = await Promise.race([next, tick]).finally(() => clearTimeout(timer));
      if (result === "tick") {
        yield ping;
        continue;
      }
      if (result.done) return;
      yield result.value;
      next = iterator.next();
    }
  } finally {
    await iterator.return?.();
  }
}
