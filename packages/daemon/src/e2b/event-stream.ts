import type { Readable } from "node:stream";
import { ProcessEventSchema, type ProcessEvent } from "@paddock/protocol";
import { PaddockApiError } from "./daemon-client.js";

/**
 * A Paddock process event stream (NDJSON), event by event, each checked against the protocol.
 * Ends at the exit event; a stream cut before it is an unavailable agent.
 */
export async function* processEvents(res: Readable): AsyncGenerator<ProcessEvent> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of res as AsyncIterable<Buffer>) {
    pending += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (!line.trim()) continue;
      const parsed = ProcessEventSchema.safeParse(JSON.parse(line));
      if (!parsed.success) {
        throw new PaddockApiError(
          502,
          "agent_error",
          "a process event that is not Paddock's protocol",
        );
      }
      yield parsed.data;
      if (parsed.data.type === "exit") return;
    }
  }
  throw new PaddockApiError(
    503,
    "agent_unavailable",
    "the process stream ended before the process exited (did the sandbox end?)",
  );
}
