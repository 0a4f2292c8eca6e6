import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

/** Bad input is the client's fault: a 400 that says what is allowed, never a 5xx. */

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

interface Answer {
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
  /** Whether the request went on a connection an earlier request had used. */
  reused: boolean;
}

/** One request on `agent` (keep-alive, one socket), so the tests see the connection's fate. */
function send(
  agent: http.Agent,
  method: string,
  route: string,
  body?: Buffer,
  contentType = "application/x-tar",
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(daemon.url + route, {
      method,
      agent,
      headers: {
        authorization: `Bearer ${daemon.token}`,
        ...(body ? { "content-type": contentType, "content-length": body.length } : {}),
      },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const done = () =>
          // Node's client keeps a connection for the next request only once its own request
          // is sent whole; an early answer (a refusal) comes before that.
          setImmediate(() =>
            resolve({
              status: res.statusCode ?? 0,
              body: (text ? JSON.parse(text) : {}) as Answer["body"],
              reused: req.reusedSocket,
            }),
          );
        if (req.writableFinished) done();
        else req.once("finish", done);
      });
    });
    req.end(body);
  });
}

describe.each(RUNTIMES)("bad input is a 400 on %s", (runtime) => {
  it("cpu below what a sandbox can start with is refused before anything is made", async () => {
    const labels = { probe: `cpu-${runtime}` };
    for (const cpu of [0.0001, 0.001, 0.01, 0.05, 0.1, 65]) {
      const started = Date.now();
      const res = await daemon.api("POST", "/v1/sandboxes", { runtime, cpu, labels });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status, `cpu ${cpu}`).toBe(400);
      expect(body.error.code).toBe("invalid_request");
      expect(body.error.message).toContain("cpu must be from 0.2 to 64 cores");
      expect(Date.now() - started).toBeLessThan(5000);
    }
    expect(await Sandbox.list({ ...daemon.client, labels })).toEqual([]);
  });

  it("the smallest cpu allowed (0.2) starts and runs", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, cpu: 0.2 });
    try {
      expect((await sandbox.info()).cpu).toBe(0.2);
      const out = await (await sandbox.process.exec("echo", "slow but alive")).output();
      expect(out.stdout).toBe("slow but alive\n");
    } finally {
      await sandbox.terminate();
    }
  });

  it("an upload that is not a tar archive: 400, nothing extracted, the connection goes on", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const route = `/v1/sandboxes/${sandbox.id}/files/archive?path=/tmp/up`;
      const bodies: [string, Buffer, RegExp][] = [
        ["a truncated gzip", Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]), /gzip-compressed/],
        ["700 bytes of A", Buffer.alloc(700, "A"), /not a valid tar archive/],
        // Far more than the agent reads before it knows: the answer comes while the rest is sent.
        ["8 MiB of A", Buffer.alloc(8 * 1024 * 1024, "A"), /not a valid tar archive/],
      ];
      let first = true;
      for (const [what, bytes, message] of bodies) {
        const answer = await send(agent, "PUT", route, bytes);
        expect(answer.status, what).toBe(400);
        expect(answer.body.error?.code, what).toBe("invalid_request");
        expect(answer.body.error?.message, what).toMatch(message);
        expect(answer.body.error?.message, what).toMatch(/send an uncompressed tar archive/);
        expect(answer.body.error?.message, what).toMatch(/nothing was written/);
        if (!first) expect(answer.reused, `${what}: a new connection`).toBe(true);
        first = false;
        // The same connection answers the next request.
        const after = await send(agent, "GET", `/v1/sandboxes/${sandbox.id}`);
        expect(after.status).toBe(200);
        expect(after.reused, `${what}: the connection was closed`).toBe(true);
      }
      const ls = await (await sandbox.process.exec("ls", "-A", "/tmp")).output();
      expect(ls.stdout.split("\n")).not.toContain("up");
      expect(ls.stdout).not.toMatch(/\.paddock-/);
    } finally {
      agent.destroy();
      await sandbox.terminate();
    }
  });
});
