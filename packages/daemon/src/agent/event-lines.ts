import { Transform, type TransformCallback } from "node:stream";
import type { z } from "zod";
import {
  AGENT_ANSWER_LIMITS,
  CodeRunEventSchema,
  ProcessEventSchema,
  WatchEventSchema,
  type CodeRunEvent,
  type ProcessEvent,
  type WatchEvent,
} from "@paddock/protocol";
import { malformed } from "./answers.js";

const NEWLINE = 0x0a;

/** The NDJSON event streams an agent answers with: their events, and which begin and end one. */
export interface EventProtocol<E extends { type: string } = { type: string }> {
  schema: z.ZodType<E>;
  /** Every stream begins with this event, which the agent sends at once. */
  first: E["type"];
  /** The stream's last event: nothing may follow it, and it must come. */
  last: readonly E["type"][];
}

/** A process's events: start, output, exit. */
export const PROCESS_EVENTS: EventProtocol<ProcessEvent> = {
  schema: ProcessEventSchema,
  first: "start",
  last: ["exit"],
};

/** A code run's events: start, output, then its result (or the context's error). */
export const CODE_RUN_EVENTS: EventProtocol<CodeRunEvent> = {
  schema: CodeRunEventSchema,
  first: "start",
  last: ["result", "error"],
};

/** A directory watch's events: ready, changes, then its end or error. */
export const WATCH_EVENTS: EventProtocol<WatchEvent> = {
  schema: WatchEventSchema,
  first: "ready",
  last: ["end", "error"],
};

/**
 * An NDJSON event stream from an agent, checked line by line: each line is parsed against the
 * protocol's schema and passed on as the agent's own bytes (nothing is re-encoded). A line over
 * `maxLineBytes`, a line that is not an event, an event after the last one, or an end without
 * it fails the stream with an agent_error. Memory stays bounded by one line plus the stream's
 * buffers: backpressure reaches the agent.
 */
export class EventLines<E extends { type: string } = ProcessEvent> extends Transform {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private exited = false;

  constructor(
    private readonly onEvent: (event: E) => void = () => {},
    private readonly maxLineBytes: number = AGENT_ANSWER_LIMITS.eventLineBytes,
    private readonly protocol: EventProtocol<E> = PROCESS_EVENTS as unknown as EventProtocol<E>,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      /** Start of the part of this chunk not yet split into lines. */
      let from = 0;
      /** Start of the part of this chunk not yet passed on. */
      let passFrom = 0;
      for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, from)) {
        const piece = chunk.subarray(from, nl);
        if (this.partialBytes + piece.length > this.maxLineBytes) throw this.tooLong();
        if (this.partialBytes > 0) {
          // Only the chunk's first line can finish one begun in an earlier chunk.
          this.partial.push(chunk.subarray(from, nl + 1));
          const line = Buffer.concat(this.partial);
          this.partial = [];
          this.partialBytes = 0;
          this.check(line.subarray(0, line.length - 1));
          this.push(line);
          passFrom = nl + 1;
        } else {
          this.check(piece);
        }
        from = nl + 1;
      }
      // Lines wholly inside this chunk go on together, as one slice of it.
      if (from > passFrom) this.push(chunk.subarray(passFrom, from));
      const rest = chunk.subarray(from);
      if (rest.length > 0) {
        if (this.partialBytes + rest.length > this.maxLineBytes) throw this.tooLong();
        this.partial.push(rest);
        this.partialBytes += rest.length;
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (this.partialBytes > 0) return done(malformed("an event stream cut off mid-line"));
    if (!this.exited)
      return done(
        malformed(`an event stream that ended without a ${this.protocol.last.join(" or ")} event`),
      );
    done();
  }

  private tooLong() {
    return malformed(`an event line over ${this.maxLineBytes} bytes`);
  }

  private check(line: Buffer): void {
    if (line.length === 0) return;
    if (this.exited) throw malformed("events after the last event");
    let value: unknown;
    try {
      value = JSON.parse(line.toString("utf8"));
    } catch (err) {
      throw malformed("an event that is not JSON", err);
    }
    const checked = this.protocol.schema.safeParse(value);
    if (!checked.success) throw malformed("an event that does not fit the protocol");
    if (this.protocol.last.includes(checked.data.type)) this.exited = true;
    this.onEvent(checked.data);
  }
}
