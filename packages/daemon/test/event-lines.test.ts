import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import type { ProcessEvent } from "@paddock/protocol";
import { CODE_RUN_EVENTS, EventLines } from "../src/agent/event-lines.js";

const line = (event: ProcessEvent) => `${JSON.stringify(event)}\n`;
const START = line({ type: "start", pid: 1, tag: null });
const OUT = line({ type: "stdout", data: Buffer.from("hello").toString("base64") });
const EXIT = line({ type: "exit", exitCode: 0, signal: null, timedOut: false });

/** Feeds `text` in pieces of `size` bytes through EventLines; what came out and the events. */
async function run(text: string, size: number, maxLineBytes?: number) {
  const bytes = Buffer.from(text);
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  const events: ProcessEvent[] = [];
  const lines = new EventLines((e) => events.push(e), maxLineBytes);
  const out = await buffer(Readable.from(pieces).pipe(lines));
  return { out: out.toString(), events };
}

describe("EventLines", () => {
  it("passes a stream on byte for byte however it is cut into chunks", async () => {
    const text = START + OUT + OUT + EXIT;
    for (const size of [1, 3, 7, START.length, 64, 4096]) {
      const { out, events } = await run(text, size);
      expect(out).toBe(text);
      expect(events.map((e) => e.type)).toEqual(["start", "stdout", "stdout", "exit"]);
    }
  });

  it("fails on a line that is not an event, a line over the limit, or a missing exit", async () => {
    await expect(run(START + "nope\n" + EXIT, 5)).rejects.toMatchObject({ code: "agent_error" });
    await expect(run(START + '{"type":"stdout"}\n' + EXIT, 64)).rejects.toMatchObject({
      code: "agent_error",
    });
    await expect(run(START + OUT + EXIT, 8, OUT.length - 2)).rejects.toMatchObject({
      code: "agent_error",
    });
    await expect(run(START + OUT, 16)).rejects.toMatchObject({ code: "agent_error" });
    await expect(run(START + OUT.slice(0, 10), 16)).rejects.toMatchObject({
      code: "agent_error",
    });
    await expect(run(START + EXIT + OUT, 16)).rejects.toMatchObject({ code: "agent_error" });
  });

  it("checks a code run's events by their own protocol: a result ends it, nothing after", async () => {
    const code = (...events: object[]) => events.map((e) => `${JSON.stringify(e)}\n`).join("");
    const feed = (text: string) =>
      buffer(
        Readable.from([Buffer.from(text)]).pipe(
          new EventLines(() => {}, undefined, CODE_RUN_EVENTS),
        ),
      );
    const begin = { type: "start", context: "default-python" };
    const result = { type: "result", context: "c", value: "42", error: null, timedOut: false };
    const text = code(begin, { type: "stdout", data: "aGk=" }, result);
    expect((await feed(text)).toString()).toBe(text);
    await expect(feed(code(begin, { type: "stdout", data: "aGk=" }))).rejects.toMatchObject({
      code: "agent_error",
    });
    await expect(feed(code(begin, result, result))).rejects.toMatchObject({ code: "agent_error" });
    // A process's exit is not a code run's event.
    await expect(
      feed(code(begin, { type: "exit", exitCode: 0, signal: null, timedOut: false })),
    ).rejects.toMatchObject({ code: "agent_error" });
  });
});
