import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConnectError,
  envelope,
  serveStream,
  serveUnary,
  unwrapEnvelopes,
  withKeepalive,
} from "../../packages/daemon/src/e2b/connect.js";

/**
 * The Connect framing of the E2B API on its own, in process (no daemon, no sandbox): unary and
 * server-streaming calls, errors before and after the first message, deadlines, keepalives.
 */

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const name = req.url?.slice(1);
    if (name === "echo") return void serveUnary(req, res, async (m) => ({ got: m }));
    if (name === "refuse") {
      return void serveUnary(req, res, async () => {
        throw new ConnectError("not_found", "no such thing");
      });
    }
    if (name === "count") {
      return void serveStream(req, res, async function* (m) {
        const { n } = m as { n: number };
        for (let i = 0; i < n; i++) yield { i };
        if (n === 2) throw new ConnectError("invalid_argument", "two is too many");
      });
    }
    if (name === "slow") {
      return void serveStream(req, res, async function* (_m, ctx) {
        yield { first: true };
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const stream = async (name: string, message: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}/${name}`, {
    method: "POST",
    headers: { "content-type": "application/connect+json", ...headers },
    body: envelope(0, message),
  });
  const frames = unwrapEnvelopes(Buffer.from(await res.arrayBuffer()));
  return {
    status: res.status,
    messages: frames.filter((f) => f.flags === 0).map((f) => JSON.parse(f.data.toString())),
    end: frames.filter((f) => f.flags === 2).map((f) => JSON.parse(f.data.toString())),
  };
};

describe("the Connect framing", () => {
  it("answers unary calls with JSON, and errors with their status and {code, message}", async () => {
    const ok = await fetch(`${base}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ a: 1 }),
    });
    expect([ok.status, await ok.json()]).toEqual([200, { got: { a: 1 } }]);
    const refused = await fetch(`${base}/refuse`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect([refused.status, await refused.json()]).toEqual([
      404,
      { code: "not_found", message: "no such thing" },
    ]);
    const binary = await fetch(`${base}/echo`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: "x",
    });
    expect([binary.status, ((await binary.json()) as { code: string }).code]).toEqual([
      400,
      "invalid_argument",
    ]);
  });

  it("streams enveloped messages, then an end-of-stream message with the error if any", async () => {
    expect(await stream("count", { n: 3 })).toEqual({
      status: 200,
      messages: [{ i: 0 }, { i: 1 }, { i: 2 }],
      end: [{}],
    });
    expect(await stream("count", { n: 2 })).toEqual({
      status: 200,
      messages: [{ i: 0 }, { i: 1 }],
      end: [{ error: { code: "invalid_argument", message: "two is too many" } }],
    });
  });

  it("ends a stream at its Connect-Timeout-Ms with deadline_exceeded", async () => {
    const started = Date.now();
    const res = await stream("slow", {}, { "connect-timeout-ms": "200" });
    expect(res.messages).toEqual([{ first: true }]);
    expect(res.end[0].error.code).toBe("deadline_exceeded");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("refuses a truncated envelope", () => {
    expect(() => unwrapEnvelopes(Buffer.from([0, 0, 0, 0, 9, 1]))).toThrow(/longer than/);
  });

  it("sends a keepalive into silence, and nothing when not asked", async () => {
    async function* late() {
      await new Promise((resolve) => setTimeout(resolve, 120));
      yield "data";
    }
    const seen: string[] = [];
    for await (const v of withKeepalive(late(), 50, "ping")) seen.push(v);
    expect(seen.filter((v) => v === "ping").length).toBeGreaterThanOrEqual(1);
    expect(seen.at(-1)).toBe("data");
    const plain: string[] = [];
    for await (const v of withKeepalive(late(), undefined, "ping")) plain.push(v);
    expect(plain).toEqual(["data"]);
  });
});
