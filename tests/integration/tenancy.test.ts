import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keys, Sandbox, SandboxNotFoundError, UnauthorizedError, ForbiddenError } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

describe("API keys keep tenants apart", () => {
  it("a key sees and touches only its own sandboxes; the admin sees all; revoke is immediate", async () => {
    const keys = new Keys(daemon.client);
    const alice = await keys.create("alice");
    const bob = await keys.create("bob");
    const asAlice = { url: daemon.url, token: alice.key };
    const asBob = { url: daemon.url, token: bob.key };

    const sandbox = await Sandbox.create({ ...asAlice, runtime: "runc", labels: { who: "alice" } });
    try {
      expect((await Sandbox.list(asAlice)).map((s) => s.id)).toEqual([sandbox.id]);
      expect(await Sandbox.list(asBob)).toEqual([]);
      expect((await Sandbox.list(daemon.client)).map((s) => s.id)).toContain(sandbox.id);

      // Every route naming the sandbox answers bob as if it did not exist.
      await expect(Sandbox.connect(sandbox.id, asBob)).rejects.toBeInstanceOf(SandboxNotFoundError);
      for (const [method, route] of [
        ["GET", `/v1/sandboxes/${sandbox.id}`],
        ["DELETE", `/v1/sandboxes/${sandbox.id}`],
        ["GET", `/v1/sandboxes/${sandbox.id}/files/stat?path=/etc/passwd`],
        ["GET", `/v1/sandboxes/${sandbox.id}/processes`],
        ["GET", `/v1/sandboxes/${sandbox.id}/ports`],
      ] as const) {
        const res = await fetch(daemon.url + route, {
          method,
          headers: { authorization: `Bearer ${bob.key}` },
        });
        expect(res.status, `${method} ${route}`).toBe(404);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
          "sandbox_not_found",
        );
      }
      const mine = await Sandbox.connect(sandbox.id, asAlice);
      expect((await (await mine.process.exec("echo", "mine")).output()).stdout).toBe("mine\n");

      // Keys cannot manage keys or images.
      await expect(new Keys(asAlice).list()).rejects.toBeInstanceOf(ForbiddenError);

      await keys.revoke("alice");
      await expect(Sandbox.list(asAlice)).rejects.toBeInstanceOf(UnauthorizedError);
      expect((await keys.list()).find((k) => k.name === "alice")?.revokedAt).not.toBeNull();
    } finally {
      await Sandbox.connect(sandbox.id, daemon.client).then((s) => s.terminate());
    }
  });

  it("stores keys hashed, never in clear", async () => {
    const { key } = await new Keys(daemon.client).create("carol");
    // The random part whole: it is base64url, which may itself hold a "_".
    const secret = key.slice("pdk_carol_".length);
    expect(secret).toHaveLength(32);
    for (const file of ["state.db", "state.db-wal"]) {
      let bytes = "";
      try {
        bytes = readFileSync(path.join(daemon.dataDir, file)).toString("latin1");
      } catch {
        continue;
      }
      expect(bytes.includes(secret)).toBe(false);
    }
  });
});

describe.each(RUNTIMES)("a sandbox cannot reach what is not its own on %s", (runtime) => {
  it("sees only its own agent socket and none of the daemon's files", async () => {
    const one = await Sandbox.create({ ...daemon.client, runtime });
    const two = await Sandbox.create({ ...daemon.client, runtime });
    try {
      const socks = await (await one.process.run("ls -a /.paddock/sock")).output();
      expect(socks.stdout.split("\n").filter((l) => l && !l.startsWith("."))).toEqual([
        "agent.sock",
      ]);
      for (const p of [
        daemon.dataDir,
        path.join(daemon.dataDir, "token"),
        path.join(daemon.dataDir, "sandboxes", two.id),
      ]) {
        const probe = await (await one.process.exec("ls", p)).output();
        expect(probe.exitCode, p).not.toBe(0);
      }
      await expect(one.fs.readFile("/.paddock/sock/agent.sock")).rejects.toMatchObject({
        code: "permission_denied",
      });
    } finally {
      await one.terminate();
      await two.terminate();
    }
  });

  it("swapping its agent socket for a symlink to another sandbox's never reaches that one", async () => {
    const one = await Sandbox.create({ ...daemon.client, runtime });
    const two = await Sandbox.create({ ...daemon.client, runtime });
    try {
      await two.fs.writeFile("/only-in-two", "secret");
      const twoSocket = path.join(daemon.dataDir, "sandboxes", two.id, "sock", "agent.sock");
      const swap = await (
        await one.process.exec([
          "sh",
          "-c",
          'ln -s "$1" /.paddock/sock/next && mv -f /.paddock/sock/next /.paddock/sock/agent.sock',
          "sh",
          twoSocket,
        ])
      ).output();
      // The socket dir is sealed read-only once the agent listens: the swap itself fails.
      expect(swap.exitCode).not.toBe(0);
      expect(swap.stderr).toMatch(/Read-only file system/);
      // Were it to succeed, the running daemon holds the socket it found at create, and a
      // restarted one looks again and refuses a symlink rather than follow it into two.
      for (const when of ["running", "restarted"]) {
        if (when === "restarted") {
          await daemon.kill9();
          daemon = await daemon.restart();
        }
        const oneNow = await Sandbox.connect(one.id, daemon.client);
        const seen = await oneNow.fs.statFile("/only-in-two").catch((e: unknown) => e);
        expect(seen, when).toBeInstanceOf(Error);
        const twoNow = await Sandbox.connect(two.id, daemon.client);
        expect(await twoNow.fs.readFile("/only-in-two"), when).toBe("secret");
      }
    } finally {
      await Sandbox.connect(one.id, daemon.client).then(
        (s) => s.terminate(),
        () => {},
      );
      await Sandbox.connect(two.id, daemon.client).then(
        (s) => s.terminate(),
        () => {},
      );
    }
  });
});
