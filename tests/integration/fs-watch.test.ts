import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  FileNotFoundError,
  InvalidRequestError,
  Sandbox,
  type DirectoryWatch,
  type WatchedEvent,
} from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { CLI, RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

/** A watch read in the background: its events as "type name", and when the reading ended. */
function collect(watch: DirectoryWatch) {
  const seen: string[] = [];
  const events: WatchedEvent[] = [];
  const done = (async () => {
    for await (const event of watch) {
      events.push(event);
      seen.push("name" in event ? `${event.type} ${event.name}` : event.type);
    }
  })();
  return { seen, events, done };
}

const waitFor = (check: () => void) => vi.waitFor(check, { timeout: 10_000 });

describe.each(RUNTIMES)("sandbox.fs.watch on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  const sh = async (script: string) => {
    const res = await (await sandbox.process.run(script)).output();
    expect(res, script).toMatchObject({ exitCode: 0, stderr: "" });
    return res.stdout;
  };

  it("reports create, write, chmod, rename and remove, named relative to the directory; not below it", async () => {
    await sandbox.fs.createDirectory("/w/flat/sub");
    const watch = await sandbox.fs.watch("/w/flat/../flat");
    expect(watch.path).toBe("/w/flat");
    const { seen, events, done } = collect(watch);
    await sh(
      "cd /w/flat && echo 1 > a && echo 2 >> a && chmod 600 a && mv a b && rm b && mkdir d && echo x > sub/deep",
    );
    await waitFor(() => expect(seen).toContain("create d"));
    for (const e of ["create a", "write a", "chmod a", "rename a", "create b", "remove b"])
      expect(seen).toContain(e);
    expect(seen.indexOf("create a")).toBeLessThan(seen.indexOf("remove b"));
    expect(events.find((e) => "name" in e && e.name === "d")).toEqual({
      type: "create",
      path: "/w/flat/d",
      name: "d",
      isDir: true,
    });
    expect(seen.filter((e) => e.includes("sub/"))).toEqual([]);
    watch.close();
    await done;
  });

  it("recursive: sees changes below, in directories made after it began too; ends when the directory goes", async () => {
    await sandbox.fs.createDirectory("/w/tree/old");
    const watch = await sandbox.fs.watch("/w/tree", { recursive: true });
    const { seen, done } = collect(watch);
    await sh(
      "mkdir -p /w/tree/new/deeper && echo y > /w/tree/new/deeper/g && echo z > /w/tree/old/f",
    );
    await waitFor(() => expect(seen).toContain("create new/deeper/g"));
    expect(seen).toContain("create old/f");
    expect(seen).toContain("write old/f");
    await sh("rm -rf /w/tree");
    await done;
    expect(seen).toContain("remove old/f");
  });

  it("stops the watch in the sandbox when the consumer leaves: 20 watches leave no helper behind", async () => {
    await sandbox.fs.createDirectory("/w/many");
    const watches = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sandbox.fs.watch("/w/many", { recursive: i % 2 === 0 })),
    );
    const helpers = () =>
      sh("grep -l 'paddock-[w]atch' /proc/[0-9]*/cmdline 2>/dev/null | wc -l || true");
    expect(Number(await helpers())).toBe(20);
    // Half leave their loop at the first event, half are closed unread.
    const firsts = watches.slice(0, 10).map(async (watch) => {
      for await (const event of watch) return event;
    });
    await sh("touch /w/many/x");
    for (const first of await Promise.all(firsts)) expect(first).toMatchObject({ name: "x" });
    for (const watch of watches.slice(10)) watch.close();
    await waitFor(async () => expect(Number(await helpers())).toBe(0));
    // And the sandbox watches on as before.
    const again = await sandbox.fs.watch("/w/many");
    const { seen, done } = collect(again);
    await sh("rm /w/many/x");
    await waitFor(() => expect(seen).toContain("remove x"));
    again.close();
    await done;
  });

  it.runIf(runtime === "runc")("paddock fs watch -r --json prints one event a line", async () => {
    await sandbox.fs.createDirectory("/w/cli/sub");
    const child = spawn(
      process.execPath,
      [CLI, "fs", "watch", `${sandbox.id}:/w/cli`, "-r", "--json"],
      { env: { ...process.env, PADDOCK_URL: daemon.url, PADDOCK_TOKEN: daemon.token } },
    );
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    try {
      await waitFor(() => expect(err).toContain("watching /w/cli"));
      await sh("echo hi > /w/cli/sub/f");
      await waitFor(() => expect(out).toContain('"name":"sub/f"'));
      expect(JSON.parse(out.split("\n")[0]!)).toEqual({
        type: "create",
        path: "/w/cli/sub/f",
        name: "sub/f",
        isDir: false,
      });
    } finally {
      child.kill();
    }
  });

  it("refuses a missing path, a file and a relative path before streaming", async () => {
    await expect(sandbox.fs.watch("/w/nope")).rejects.toBeInstanceOf(FileNotFoundError);
    await sandbox.fs.writeFile("/w/file", "");
    await expect(sandbox.fs.watch("/w/file", { recursive: true })).rejects.toThrow(
      /\/w\/file is not a directory/,
    );
    await expect(sandbox.fs.watch("w")).rejects.toBeInstanceOf(InvalidRequestError);
  });
});
