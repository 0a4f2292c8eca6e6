import type { Readable } from "node:stream";
import type { z } from "zod";
import { ProcessEventSchema, type ProcessEvent } from "@paddock/protocol";
import { PaddockApiError } from "./daemon-client.js";

/**
 * A Paddock NDJSON event stream, event by event, each checked against `schema`. Ends after an
 * event of a type in `last`; a stream cut before one is an unavailable agent (`cut` says what).
 */
export async function* ndjsonEvents<E extends { type: string }>(
  res: Readable,
  schema: z.ZodType<E>,
  last: readonly string[],
  cut: string,
): AsyncGenerator<E> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of res as AsyncIterable<Buffer>) {
    pending += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (!line.trim()) continue;
      const parsed = schema.safeParse(JSON.parse(line));
      if (!parsed.success) {
        throw new PaddockApiError(502, "agent_error", "an event that is not Paddock's protocol");
      }
      yield parsed.data;
      if (last.includes(parsed.data.type)) return;
    }
  }
  throw new PaddockApiError(503, "agent_unavailable", cut);
}

/** A Paddock process event stream (NDJSON): ends at the exit event. */
export function processEvents(res: Readable): AsyncGenerator<ProcessEvent> {
  return ndjsonEvents(
    res,
    ProcessEventSchema,
    ["exit"],
    "the process stream ended before the process exited (did the sandbox end?)",
  );
}
