import { describe, expect, it } from "vitest";
import { InvalidResponseError } from "../src/errors.js";
import { ndjson } from "../src/http.js";

function stream(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(typeof c === "string" ? encoder.encode(c) : c);
      controller.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array> | null): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const v of ndjson(body, { what: "a test stream", cut: "network_error" })) out.push(v);
  return out;
}

describe("ndjson", () => {
  it("splits lines that cross chunk boundaries", async () => {
    const values = await collect(
      stream(['{"type":"prog', 'ress","message":"a"}\n{"type"', ':"progress","message":"b"}\n']),
    );
    expect(values).toEqual([
      { type: "progress", message: "a" },
      { type: "progress", message: "b" },
    ]);
  });

  it("handles several lines in one chunk and a last line without newline", async () => {
    expect(await collect(stream(["1\n2\n", "3\n4"]))).toEqual([1, 2, 3, 4]);
  });

  it("skips blank lines and CRLF endings", async () => {
    expect(await collect(stream(['{"a":1}\r\n\r\n', "\n", '{"a":2}\r\n']))).toEqual([
      { a: 1 },
      { a: 2 },
    ]);
  });

  it("joins a multi-byte character split across chunks", async () => {
    const bytes = new TextEncoder().encode('{"m":"héllo ✓"}\n');
    const split = bytes.indexOf(0xc3) + 1; // inside the two bytes of "é"
    const values = await collect(stream([bytes.slice(0, split), bytes.slice(split)]));
    expect(values).toEqual([{ m: "héllo ✓" }]);
  });

  it("splits a stream that arrives one byte at a time", async () => {
    const text = '{"x":1}\n{"y":[1,2]}\n';
    expect(await collect(stream(text.split("")))).toEqual([{ x: 1 }, { y: [1, 2] }]);
  });

  it("yields nothing for a null or empty body", async () => {
    expect(await collect(null)).toEqual([]);
    expect(await collect(stream([]))).toEqual([]);
  });

  it("throws InvalidResponseError on a line that is not JSON, naming the stream", async () => {
    const err = await collect(stream(["1\nnot json\n"])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidResponseError);
    expect(err).toMatchObject({ code: "invalid_response" });
    expect((err as Error).message).toMatch(/a test stream sent a line that is not JSON: not json/);
    expect((err as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it("throws InvalidResponseError on a last line without newline that is not JSON", async () => {
    await expect(collect(stream(['{"a":1}\n{"a":']))).rejects.toBeInstanceOf(InvalidResponseError);
  });
});
