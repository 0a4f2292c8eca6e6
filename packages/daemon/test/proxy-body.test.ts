import { PassThrough, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { dropRest, sendBody } from "../src/agent/request-body.js";

/** A sink that takes `limit` chunks and then closes, as an agent that answered early does. */
function closingSink(limit: number): { sink: Writable; taken: Buffer[] } {
  const taken: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      taken.push(chunk);
      done();
      if (taken.length === limit) sink.destroy();
    },
  });
  return { sink, taken };
}

const ended = (body: PassThrough) =>
  new Promise<void>((resolve) => (body.readableEnded ? resolve() : body.once("end", resolve)));

describe("sendBody", () => {
  it("carries the whole body to a sink that takes it", async () => {
    const body = new PassThrough();
    const { sink, taken } = closingSink(Number.POSITIVE_INFINITY);
    sendBody(body, sink);
    for (const c of ["a", "b", "c"]) body.write(c);
    body.end();
    await new Promise((resolve) => sink.once("finish", resolve));
    expect(Buffer.concat(taken).toString()).toBe("abc");
  });

  it("reads the rest of the body once the sink stops taking it, so the connection moves on", async () => {
    const body = new PassThrough({ highWaterMark: 4 });
    const { sink, taken } = closingSink(1);
    sendBody(body, sink);
    // Far past any buffer: left paused, these writes would never all be taken.
    for (let i = 0; i < 1000; i++) body.write(Buffer.alloc(1024, i));
    body.end();
    await ended(body);
    expect(taken).toHaveLength(1);
  });

  it("cuts the sink off when the client goes away mid-body", async () => {
    const body = new PassThrough();
    const { sink } = closingSink(Number.POSITIVE_INFINITY);
    sendBody(body, sink);
    body.write("part");
    body.destroy();
    await new Promise((resolve) => sink.once("close", resolve));
    expect(sink.destroyed).toBe(true);
  });
});

describe("dropRest", () => {
  it("says whether anything was left, and drains it", async () => {
    const done = new PassThrough();
    done.end();
    done.resume();
    await ended(done);
    expect(dropRest(done)).toBe(false);

    const open = new PassThrough({ highWaterMark: 4 });
    expect(dropRest(open)).toBe(true);
    for (let i = 0; i < 100; i++) open.write(Buffer.alloc(1024));
    open.end();
    await ended(open);
  });
});
