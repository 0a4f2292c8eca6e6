import { describe, expect, it } from "vitest";
import { Events } from "../src/events.js";
import { InvalidResponseError } from "../src/errors.js";

const event = (seq: number, type = "created") =>
  JSON.stringify({ seq, type, sandboxId: "sb_a", runtime: "runc", time: "t", reason: null });

/** A fetch that answers with these chunks as a text/event-stream body; records the URL. */
function sse(chunks: string[]) {
  const urls: string[] = [];
  const encoder = new TextEncoder();
  const fetch = (async (url: string | URL | Request) => {
    urls.push(String(url));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(encoder.encode(c));
        controller.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  }) as typeof globalThis.fetch;
  return { urls, fetch };
}

async function all(options: Parameters<typeof Events.stream>[0]) {
  const out = [];
  for await (const e of Events.stream(options)) out.push(e);
  return out;
}

describe("Events.stream", () => {
  it("parses events split across chunks, with CRLF, comments and fields it does not use", async () => {
    const { fetch, urls } = sse([
      ": subscribed\n\n",
      `id: 1\nevent: created\nda`,
      `ta: ${event(1)}\n\n`,
      `retry: 1000\r\nid: 2\r\nevent: paused\r\ndata: ${event(2, "paused")}\r\n\r\n`,
      ": keepalive\n\n",
    ]);
    const events = await all({ url: "http://d", token: "t", fetch, sandboxId: "sb_a", after: 0 });
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, "created"],
      [2, "paused"],
    ]);
    expect(urls[0]).toBe("http://d/v1/events?sandboxId=sb_a&after=0");
  });

  it("an event that is not one is an InvalidResponseError", async () => {
    const { fetch } = sse([`data: {"seq":"x"}\n\n`]);
    await expect(all({ url: "http://d", token: "t", fetch })).rejects.toBeInstanceOf(
      InvalidResponseError,
    );
  });
});
