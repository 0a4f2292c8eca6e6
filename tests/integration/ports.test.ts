import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Sandbox } from "paddock";
import { AGENT_NODE_ARGV } from "@paddock/protocol";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { REPO, RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

const NODE = AGENT_NODE_ARGV.join(" ");
const rssKiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

/** Resolves true when a TCP connect to the port succeeds and the server keeps it open. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

describe.each(RUNTIMES)("exposed ports on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime, memoryMiB: 1024 });
    const setup = await sandbox.process.run(
      "mkdir -p /www && head -c 104857600 /dev/urandom > /www/big.bin && echo hello > /www/index.html",
    );
    expect((await setup.wait()).exitCode).toBe(0);
    await sandbox.process.exec(["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"], {
      background: true,
      tag: "web",
    });
    await sandbox.process.waitForPort(8080, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it("fetches from an HTTP server inside through the URL, with no network in the sandbox", async () => {
    const { url, hostPort } = await sandbox.exposePort(8080);
    expect(url).toBe(`http://127.0.0.1:${hostPort}`);
    const res = await fetch(`${url}/index.html`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello\n");
    const ifaces = await (
      await sandbox.process.run("ls /sys/class/net 2>/dev/null || ip -o link | cut -d: -f2")
    ).output();
    expect(ifaces.stdout.trim().split(/\s+/)).toEqual(["lo"]);
    expect((await sandbox.listExposedPorts()).map((p) => p.port)).toContain(8080);
  });

  it("carries a 100 MiB download intact with flat daemon memory", async () => {
    const { url } = await sandbox.exposePort(8080);
    const inside = await (await sandbox.process.exec("sha256sum", "/www/big.bin")).output();
    const before = rssKiB(daemon.process.pid!);
    let peak = before;
    const res = await fetch(`${url}/big.bin`);
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      size += chunk.length;
      if (size % (8 << 20) < chunk.length) peak = Math.max(peak, rssKiB(daemon.process.pid!));
    }
    expect(size).toBe(100 * 1024 * 1024);
    expect(hash.digest("hex")).toBe(inside.stdout.split(" ")[0]);
    expect(peak - before).toBeLessThan(100 * 1024);
  });

  it("serves 50 concurrent connections", async () => {
    const { url } = await sandbox.exposePort(8080);
    const bodies = await Promise.all(
      Array.from({ length: 50 }, () => fetch(`${url}/index.html`).then((r) => r.text())),
    );
    expect(bodies).toEqual(Array(50).fill("hello\n"));
  });

  it("passes a WebSocket echo both ways", async () => {
    // The ws package is plain JavaScript: copy it in and run it on the agent's node.
    await sandbox.fs.uploadDirectory(path.join(REPO, "node_modules/ws"), "/srv/node_modules/ws");
    await sandbox.fs.writeFile(
      "/srv/echo.cjs",
      `const { WebSocketServer } = require("/srv/node_modules/ws");
       new WebSocketServer({ host: "127.0.0.1", port: 8765 }).on("connection", (s) => s.on("message", (m, binary) => s.send(m, { binary })));`,
    );
    await sandbox.process.run(`${NODE} /srv/echo.cjs`, { background: true, tag: "ws" });
    await sandbox.process.waitForPort(8765, { timeoutMs: 10_000 });
    const { hostPort } = await sandbox.exposePort(8765);
    const ws = new WebSocket(`ws://127.0.0.1:${hostPort}`);
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const replies: string[] = [];
    const done = new Promise<void>((resolve) =>
      ws.on("message", (m) => {
        replies.push(m.toString());
        if (replies.length === 3) resolve();
      }),
    );
    for (const m of ["one", "two", "three"]) ws.send(m);
    await done;
    ws.close();
    expect(replies).toEqual(["one", "two", "three"]);
  });

  it("closes promptly when nothing listens on the port inside", async () => {
    const { hostPort } = await sandbox.exposePort(9);
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${hostPort}/`).then(
      () => "answered",
      () => "closed",
    );
    expect(res).toBe("closed");
    expect(Date.now() - started).toBeLessThan(3000);
    await sandbox.unexposePort(9);
  });

  it("checks a per-port token when asked", async () => {
    const exposed = await sandbox.exposePort(8080 + 1, { auth: true });
    await sandbox.process.exec(["httpd", "-f", "-p", "127.0.0.1:8081", "-h", "/www"], {
      background: true,
    });
    await sandbox.process.waitForPort(8081);
    expect(exposed.token).toBeTruthy();
    expect((await fetch(`${exposed.url}/index.html`)).status).toBe(401);
    expect((await fetch(`${exposed.url}/index.html?paddock_token=wrong`)).status).toBe(401);
    expect((await fetch(`${exposed.url}/index.html?paddock_token=${exposed.token}`)).status).toBe(
      200,
    );
    expect(
      (
        await fetch(`${exposed.url}/index.html`, {
          headers: { "x-paddock-port-token": exposed.token! },
        })
      ).status,
    ).toBe(200);
  });

  it("unexpose refuses new connections", async () => {
    const { hostPort } = await sandbox.exposePort(8080);
    await sandbox.unexposePort(8080);
    expect(await connects(hostPort)).toBe(false);
    expect((await sandbox.listExposedPorts()).map((p) => p.port)).not.toContain(8080);
  });
});

describe.each(RUNTIMES)("exposed ports and the sandbox's life on %s", (runtime) => {
  it("come back after a daemon restart and close when the sandbox is terminated", async () => {
    const first = await startDaemon();
    let second: TestDaemon | undefined;
    try {
      const sandbox = await Sandbox.create({ ...first.client, runtime });
      await sandbox.fs.writeFile("/www/index.html", "still here\n");
      await sandbox.process.exec(["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"], {
        background: true,
      });
      await sandbox.process.waitForPort(8080);
      const { url, hostPort } = await sandbox.exposePort(8080);
      await first.kill9();
      expect(await connects(hostPort)).toBe(false);

      second = await first.restart();
      expect(await (await fetch(`${url}/index.html`)).text()).toBe("still here\n");
      const again = await Sandbox.connect(sandbox.id, second.client);
      await again.terminate();
      expect(await connects(hostPort)).toBe(false);
    } finally {
      await second?.stop();
      await first.stop();
    }
  });
});
