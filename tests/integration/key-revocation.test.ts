import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { Keys, Sandbox } from "paddock";
import { AGENT_NODE_ARGV, BULK_UPLOAD_BYTES } from "@paddock/protocol";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

const NODE = AGENT_NODE_ARGV.join(" ");
/** A TCP echo server: a connection through an exposed port to it stays open until cut. */
const ECHO = `require("net").createServer((s) => s.pipe(s)).listen(9000, "127.0.0.1");`;

/** Resolves true when a TCP connect to the port succeeds. */
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

/** What the promise settles to, or "still open" if it has not within 3 s. */
const give = <T>(p: Promise<T>) =>
  Promise.race([
    p,
    new Promise<string>((resolve) => setTimeout(() => resolve("still open"), 3000)),
  ]);

/** Resolves with the time (Date.now()) at which the socket closed. */
const closedAt = (socket: net.Socket) =>
  new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));

/**
 * A request that stays open: its answer is read up to the first bytes and then left unread
 * until `drain()` (a download held by backpressure; a paused socket would not notice its end),
 * or its body trickles in forever (an upload; `length` announces a size, which from
 * BULK_UPLOAD_BYTES up takes the bulk road). `closed` resolves with the time the connection
 * closed, or says what should not have happened (a whole download, an answer to an upload).
 */
function openRequest(
  method: "GET" | "PUT",
  route: string,
  token: string,
  options: { length?: number } = {},
): {
  started: Promise<void>;
  closed: Promise<number | string>;
  drain: () => void;
  destroy: () => void;
} {
  const request = http.request(daemon.url + route, {
    method,
    agent: false,
    headers: {
      authorization: `Bearer ${token}`,
      ...(method === "PUT" ? { "content-type": "application/octet-stream" } : {}),
      ...(options.length ? { "content-length": options.length } : {}),
    },
  });
  request.on("error", () => {});
  let answered: (status: string) => void = () => {};
  const closed = new Promise<number | string>((resolve) => {
    answered = resolve;
    request.once("socket", (socket) => socket.once("close", () => resolve(Date.now())));
  });
  let started: Promise<void>;
  let drain = () => {};
  if (method === "GET") {
    started = new Promise((resolve, reject) => {
      request.once("response", (res) => {
        if (res.statusCode !== 200) reject(new Error(`${route}: ${res.statusCode}`));
        res.once("data", () => {
          res.pause();
          resolve();
        });
        res.once("end", () => answered("downloaded whole"));
        drain = () => res.resume();
      });
    });
    request.end();
  } else {
    const timer = setInterval(() => request.write(Buffer.alloc(64 * 1024, 1)), 100);
    void closed.then(() => clearInterval(timer));
    started = new Promise((resolve) => setTimeout(resolve, 500));
    // An answer before the body ends would be a refusal, not an upload in flight.
    request.once("response", (res) => answered(`answered ${res.statusCode}`));
  }
  return { started, closed, drain: () => drain(), destroy: () => request.destroy() };
}

describe.each(RUNTIMES)("revoking an API key on %s", (runtime) => {
  const name = `tenant-${runtime}`;
  let key: string;
  let sandbox: Sandbox;
  beforeAll(async () => {
    key = (await new Keys(daemon.client).create(name)).key;
    sandbox = await Sandbox.create({ url: daemon.url, token: key, runtime });
    await sandbox.fs.writeFile("/www/index.html", "hello\n");
    await sandbox.fs.writeFile("/srv/echo.cjs", ECHO);
    const big = await (await sandbox.process.run("head -c 67108864 /dev/zero > /big")).output();
    expect(big.exitCode, big.stderr).toBe(0);
    await sandbox.process.exec(["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"], {
      background: true,
    });
    await sandbox.process.run(`${NODE} /srv/echo.cjs`, { background: true });
    await sandbox.process.exec(["sh", "-c", "while true; do echo tick; sleep 0.1; done"], {
      background: true,
      tag: "ticker",
    });
    await sandbox.process.waitForPort(8080, { timeoutMs: 10_000 });
    await sandbox.process.waitForPort(9000, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await Sandbox.connect(sandbox.id, daemon.client).then(
      (s) => s.terminate(),
      () => {},
    );
  });

  it("a loopback exposed port needs its token by default once the daemon has keys", async () => {
    const exposed = await sandbox.exposePort(8080);
    expect(exposed.bindAddress).toBe("127.0.0.1");
    expect(exposed.token).toBeTruthy();
    expect((await fetch(`${exposed.url}/index.html`)).status).toBe(401);
    const withToken = await fetch(`${exposed.url}/index.html?paddock_token=${exposed.token}`);
    expect(await withToken.text()).toBe("hello\n");
    // The admin's ports on this daemon too; asking for no token still gives none.
    const asAdmin = await Sandbox.connect(sandbox.id, daemon.client);
    const admins = await asAdmin.exposePort(8081);
    expect(admins.token).toBeTruthy();
    expect((await fetch(admins.url)).status).toBe(401);
    expect((await asAdmin.exposePort(8082, { auth: false })).token).toBeNull();
    await asAdmin.unexposePort(8081);
    await asAdmin.unexposePort(8082);
  });

  it("ends its streams in flight and closes its sandboxes' ports within 1 s", async () => {
    const web = await sandbox.exposePort(8080, { auth: true });
    const echo = await sandbox.exposePort(9000, { auth: true });

    // An open connection through the port: a request head with the token, echoed back.
    const tunnel = net.connect({ host: "127.0.0.1", port: echo.hostPort });
    const head = `GET / HTTP/1.1\r\nhost: x\r\nx-paddock-port-token: ${echo.token}\r\n\r\n`;
    tunnel.on("error", () => {});
    onTestFinished(() => void tunnel.destroy());
    const tunnelClosed = closedAt(tunnel);
    await new Promise<void>((resolve) => {
      let seen = "";
      tunnel.setEncoding("utf8").on("data", (d: string) => {
        seen += d;
        if (seen === head) resolve();
      });
      tunnel.write(head);
    });

    const exec = await sandbox.process.exec(["sh", "-c", "while true; do echo x; sleep 0.1; done"]);
    const execEnded = exec.wait().then(
      () => "exited",
      () => Date.now(),
    );
    const attached = await sandbox.process.attach("ticker");
    const attachEnded = attached.wait().then(
      () => "exited",
      () => Date.now(),
    );
    const files = `/v1/sandboxes/${sandbox.id}/files`;
    const download = openRequest("GET", `${files}?path=/big`, key);
    const upload = openRequest("PUT", `${files}?path=/up`, key);
    const bulk = openRequest("PUT", `${files}?path=/bulk`, key, {
      length: BULK_UPLOAD_BYTES * 4,
    });
    onTestFinished(() => [download, upload, bulk].forEach((r) => r.destroy()));
    await Promise.all([download.started, upload.started, bulk.started]);
    // All of it is still going.
    const before = Date.now();
    const firstLines = [];
    for await (const chunk of exec.stdout) {
      firstLines.push(chunk);
      if (firstLines.length === 2) break;
    }
    expect(Date.now() - before).toBeLessThan(1000);

    const revokedAt = Date.now();
    await new Keys(daemon.client).revoke(name);
    download.drain();
    const ended = {
      exec: await give(execEnded),
      attach: await give(attachEnded),
      download: await give(download.closed),
      upload: await give(upload.closed),
      bulkUpload: await give(bulk.closed),
      tunnel: await give(tunnelClosed),
    };
    const took = Object.fromEntries(
      Object.entries(ended).map(([what, at]) => [
        what,
        typeof at === "number" ? at - revokedAt : at,
      ]),
    );
    console.log(`${runtime}: ms from revoke to end`, took);
    for (const [what, ms] of Object.entries(took)) {
      expect(typeof ms, what).toBe("number");
      expect(ms as number, what).toBeLessThan(1000);
    }

    // Its ports no longer answer, and they are gone from the sandbox's list.
    expect(await connects(web.hostPort)).toBe(false);
    expect(await connects(echo.hostPort)).toBe(false);
    const asAdmin = await Sandbox.connect(sandbox.id, daemon.client);
    expect(await asAdmin.listExposedPorts()).toEqual([]);
    // The cut foreground exec was killed; the sandbox itself runs on, for the admin.
    await expect
      .poll(async () => (await (await asAdmin.process.run("ps -o args")).output()).stdout, {
        timeout: 3000,
      })
      .not.toContain("echo x");
    expect(await asAdmin.fs.readFile("/www/index.html")).toBe("hello\n");
  });
});
