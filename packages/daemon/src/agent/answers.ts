import type http from "node:http";
import type { z } from "zod";
import { ErrorBodySchema } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";

/**
 * Every failure of a call to a sandbox's agent is classified here, once:
 * - the agent answered with one of its errors: that error, with the agent's own code;
 * - the agent answered something that is not its protocol (not HTTP, not JSON, not the schema,
 *   too large, cut off mid-answer): `agent_error` (502);
 * - the agent could not be reached, or went away before answering: `agent_unavailable` (503);
 * - the agent said nothing in time: `timeout` (504).
 * The low-level error is kept as `cause`.
 */

/** The agent answered something that is not its protocol. */
export function malformed(what: string, cause?: unknown): PaddockError {
  const why = cause === undefined ? "" : ` (${errorMessage(cause)})`;
  return new PaddockError("agent_error", `the sandbox's agent answered ${what}${why}`, undefined, {
    cause,
  });
}

export function unavailable(err: unknown): PaddockError {
  return new PaddockError(
    "agent_unavailable",
    `the sandbox's agent is not answering: ${errorMessage(err)}`,
    undefined,
    { cause: err },
  );
}

export function timedOut(what: string, ms: number): PaddockError {
  return new PaddockError("timeout", `the sandbox's agent did not send ${what} within ${ms} ms`);
}

/** The errno (ENOENT, ECONNREFUSED…) under an error, looking through `cause`. */
export function errnoOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && !(e instanceof PaddockError)) return code;
  }
  return undefined;
}

/** A failure of the connection or of Node's HTTP parser, before or during an answer. */
export function classifyTransport(err: unknown): PaddockError {
  if (err instanceof PaddockError) return err;
  const code = errnoOf(err) ?? "";
  // llhttp's codes: a status line, header or chunk that is not HTTP (or headers past the cap).
  if (code.startsWith("HPE_")) return malformed("something that is not HTTP", err);
  return unavailable(err);
}

/** An error answer (any status outside 2xx) as the agent's own error, if it is one. */
export function errorFromAnswer(status: number, body: Buffer): PaddockError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (err) {
    return malformed(`${status} with a body that is not JSON`, err);
  }
  const checked = ErrorBodySchema.safeParse(parsed);
  if (!checked.success) return malformed(`${status} with a body that is not an error`);
  const { code, message, details } = checked.data.error;
  return new PaddockError(code, message, details);
}

/** A valid HTTP status for an answer (Node's parser lets any three digits through). */
export function checkStatus(res: http.IncomingMessage): number {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) throw malformed(`a status of ${status}`);
  return status;
}

/**
 * Reads an answer's body whole, at most `limit` bytes; past it the answer is dropped and the
 * read fails with `tooLarge()` (by default an agent_error). A body cut off before its end is an
 * agent_error too.
 */
export function readBounded(
  res: http.IncomingMessage,
  limit: number,
  tooLarge: () => PaddockError = () => malformed(`an answer over ${limit} bytes`),
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: PaddockError) => {
      if (done) return;
      done = true;
      chunks.length = 0;
      res.destroy();
      reject(err);
    };
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) fail(tooLarge());
      else chunks.push(c);
    });
    res.once("end", () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, size));
    });
    res.once("error", (err) =>
      fail(err instanceof PaddockError ? err : malformed("an answer that was cut off", err)),
    );
    res.once("close", () => {
      if (!res.complete) fail(malformed("an answer that was cut off"));
    });
  });
}

/** A JSON body checked against a schema; anything else is an agent_error. */
export function parseAnswer<T>(body: Buffer, schema: z.ZodType<T>, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw malformed(`${what} that is not JSON`, err);
  }
  const checked = schema.safeParse(value);
  if (!checked.success) throw malformed(`${what} that does not fit the protocol`, checked.error);
  return checked.data;
}
