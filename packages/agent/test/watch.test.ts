import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, writeFile, appendFile, chmod } from "node:fs/promises";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { WatchEventSchema, type WatchEvent } from "@paddock/protocol";
import { registerFileRoutes } from "../src/files/routes.js";
import { openWatches } from "../src/files/watch.js";
import { Router } from "../src/router.js";

/** A watch through the agent's real route, read line by line. */
interface Watch {
  status: number;
  events: WatchEvent[];
  body: string;
  close(): void;
}

describe("GET /files/watch (agent, in-process)", () => {
  let server: Server;
  let port: number;
  let root: string;

  beforeAll(async () => {
    const built = fileURLToPath(new URL("../dist/bundle/paddock-watch", import.meta.url));
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
    process.env.PADDOCK_WATCH_HELPER = built;
    const router = new Router();
    registerFileRoutes(router, { maxUploadBytes: 1024 });
    server = createServer((req, res) => void router.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
    root = await mkdtemp(path.join(tmpdir(), "watch-"));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  /** Resolves once the answer's headers and, for a stream, its first line have come. */
  function watch(dir: string, recursive: boolean): Promise<Watch> {
    return new Promise((resolve, reject) => {
      const query = new URLSearchParams({ path: dir, recursive: String(recursive) });
      const req = request({ port, host: "127.0.0.1", path: `/files/watch?${query}` });
      req.on("error", reject);
      req.on("response", (res: IncomingMessage) => {
        const w: Watch = {
          status: res.statusCode ?? 0,
          events: [],
          body: "",
          close: () => req.destroy(),
        };
        let pending = "";
        res.setEncoding("utf8").on("data", (d: string) => {
          w.body += d;
          pending += d;
          let nl: number;
          while ((nl = pending.indexOf("\n")) >= 0) {
            w.events.push(WatchEventSchema.parse(JSON.parse(pending.slice(0, nl))));
            pending = pending.slice(nl + 1);
          }
          if (w.events.length > 0 || w.status !== 200) resolve(w);
        });
        res.on("end", () => resolve(w));
        res.on("error", () => {});
      });
      req.end();
    });
  }

  const seen = (w: Watch, type: string, name: string) =>
    w.events.some((e) => e.type === type && "name" in e && e.name === name);

  it("reports create, write, chmod, rename and remove with names relative to the directory", async () => {
    const dir = path.join(root, "flat");
    await mkdir(path.join(dir, "sub"), { recursive: true });
    const w = await watch(dir, false);
    expect(w.events[0]).toEqual({ type: "ready", path: dir });
    await writeFile(path.join(dir, "a.txt"), "1");
    await appendFile(path.join(dir, "a.txt"), "2");
    await chmod(path.join(dir, "a.txt"), 0o600);
    await rename(path.join(dir, "a.txt"), path.join(dir, "b.txt"));
    await rm(path.join(dir, "b.txt"));
    await mkdir(path.join(dir, "newdir"));
    await writeFile(path.join(dir, "sub", "deep.txt"), "x");
    await vi.waitFor(() => expect(seen(w, "create", "newdir")).toBe(true), { timeout: 5000 });
    for (const [type, name] of [
      ["create", "a.txt"],
      ["write", "a.txt"],
      ["chmod", "a.txt"],
      ["rename", "a.txt"],
      ["create", "b.txt"],
      ["remove", "b.txt"],
    ])
      expect(seen(w, type!, name!), `${type} ${name}`).toBe(true);
    expect(w.events.find((e) => "name" in e && e.name === "newdir")).toMatchObject({
      isDir: true,
      path: path.join(dir, "newdir"),
    });
    // Not recursive: a subdirectory's own changes are not reported.
    expect(w.events.some((e) => "name" in e && e.name.startsWith("sub/"))).toBe(false);
    w.close();
    await vi.waitFor(() => expect(openWatches()).toBe(0), { timeout: 5000 });
  });

  it("recursive: sees changes below, in directories made after the watch began too", async () => {
    const dir = path.join(root, "tree");
    await mkdir(path.join(dir, "old"), { recursive: true });
    const w = await watch(dir, true);
    await writeFile(path.join(dir, "old", "f"), "x");
    await mkdir(path.join(dir, "new", "deeper"), { recursive: true });
    await writeFile(path.join(dir, "new", "deeper", "g"), "y");
    await vi.waitFor(() => expect(seen(w, "create", "new/deeper/g")).toBe(true), {
      timeout: 5000,
    });
    expect(seen(w, "create", "old/f")).toBe(true);
    // The watched directory going away ends the stream.
    await rm(dir, { recursive: true });
    await vi.waitFor(() => expect(w.events.at(-1)?.type).toBe("end"), { timeout: 5000 });
    await vi.waitFor(() => expect(openWatches()).toBe(0), { timeout: 5000 });
  });

  it("refuses a missing path and a file before streaming", async () => {
    const missing = await watch(path.join(root, "nope"), false);
    expect(missing.status).toBe(404);
    expect(missing.body).toContain("file_not_found");
    await writeFile(path.join(root, "file"), "");
    const file = await watch(path.join(root, "file"), true);
    expect(file.status).toBe(400);
    expect(file.body).toContain("is not a directory");
    expect(openWatches()).toBe(0);
  });
});
