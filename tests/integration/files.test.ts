import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConflictError,
  FileNotFoundError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  Sandbox,
} from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
let localDir: string;
beforeAll(async () => {
  daemon = await startDaemon();
  localDir = await mkdtemp(path.join(tmpdir(), "paddock-files-"));
});
afterAll(async () => {
  await daemon?.stop();
  if (localDir) await rm(localDir, { recursive: true, force: true });
});

/** The rejection of a promise that must fail. */
async function failure(p: Promise<unknown>): Promise<Error & { code?: string; status?: number }> {
  return p.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (err: Error) => err,
  );
}

describe.each(RUNTIMES)("files on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  /** Runs argv in the sandbox, no shell. */
  const exec = async (...argv: string[]) => (await sandbox.process.exec(argv)).output();
  const sh = async (script: string) => (await sandbox.process.run(script)).output();

  it("an upload from any source is what ls, cat and stat see in the sandbox", async () => {
    const content = (kind: string) => `uploaded from ${kind} on ${runtime}\n`.repeat(100);
    const local = path.join(localDir, `local-${runtime}.txt`);
    await writeFile(local, content("path"));
    const webStream = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(content("web"));
        controller.enqueue(bytes.subarray(0, 1000));
        controller.enqueue(bytes.subarray(1000));
        controller.close();
      },
    });
    const sources = {
      path: local,
      buffer: Buffer.from(content("buffer")),
      node: Readable.from([Buffer.from(content("node").slice(0, 7)), content("node").slice(7)]),
      web: webStream,
    };
    for (const [kind, source] of Object.entries(sources)) {
      const remote = `/tmp/beta9/${kind}.txt`;
      const entry = await sandbox.fs.uploadFile(source, remote);
      const size = Buffer.byteLength(content(kind));
      expect(entry).toMatchObject({ path: remote, type: "file", size });
      const ls = await exec("ls", "-la", "/tmp/beta9");
      expect(ls.exitCode).toBe(0);
      expect(ls.stdout).toMatch(new RegExp(`\\s${size}\\s.*\\s${kind}\\.txt\\n`));
      expect(await exec("cat", remote)).toMatchObject({ exitCode: 0, stdout: content(kind) });
      expect((await sandbox.fs.statFile(remote)).size).toBe(size);
      expect(await sandbox.fs.readFile(remote)).toBe(content(kind));
    }
    const names = (await sandbox.fs.listFiles("/tmp/beta9")).map((e) => e.name);
    expect(names).toEqual(["buffer.txt", "node.txt", "path.txt", "web.txt"]);
  });

  it("sets modes: 0o755 runs, 0o644 by default, a replaced file keeps its mode, chmod", async () => {
    const script = "#!/bin/sh\necho ran as script\n";
    await sandbox.fs.uploadFile(Buffer.from(script), "/tmp/modes/run.sh", { mode: 0o755 });
    expect((await sandbox.fs.statFile("/tmp/modes/run.sh")).mode).toBe(0o755);
    expect(await exec("/tmp/modes/run.sh")).toMatchObject({
      exitCode: 0,
      stdout: "ran as script\n",
    });
    // Replacing without a mode keeps the old file's bits.
    await sandbox.fs.writeFile("/tmp/modes/run.sh", "#!/bin/sh\necho replaced\n");
    expect((await sandbox.fs.statFile("/tmp/modes/run.sh")).mode).toBe(0o755);
    expect((await exec("/tmp/modes/run.sh")).stdout).toBe("replaced\n");

    await sandbox.fs.writeFile("/tmp/modes/plain.txt", "plain");
    expect((await sandbox.fs.statFile("/tmp/modes/plain.txt")).mode).toBe(0o644);
    expect((await exec("stat", "-c", "%a", "/tmp/modes/plain.txt")).stdout).toBe("644\n");

    expect((await sandbox.fs.chmod("/tmp/modes/plain.txt", 0o600)).mode).toBe(0o600);
    expect((await exec("stat", "-c", "%a", "/tmp/modes/plain.txt")).stdout).toBe("600\n");
    // Replacing someone else's file keeps it theirs.
    expect(
      (await sh("touch /tmp/modes/theirs && chown 65534:65534 /tmp/modes/theirs")).exitCode,
    ).toBe(0);
    expect(await sandbox.fs.writeFile("/tmp/modes/theirs", "new")).toMatchObject({
      uid: 65534,
      gid: 65534,
    });
    await sandbox.fs.chmod("/tmp/modes/run.sh", 0o644);
    expect(await failure(exec("/tmp/modes/run.sh"))).toBeInstanceOf(PermissionDeniedError);
  });

  it("stores odd names under exactly that name and never runs them", async () => {
    const names = [
      "with space",
      "single'quote",
      'double"quote',
      "$(touch /tmp/pwned)",
      "`touch /tmp/pwned`",
      "new\nline",
      "-rf",
      "ünïcødé ✓ 日本",
    ];
    for (const name of names) await sandbox.fs.writeFile(`/tmp/odd/${name}`, `content of ${name}`);
    await sandbox.fs.writeFile("/tmp/-rf", "dash");

    // A "/" in a name makes directories: the files are at exactly the paths given.
    const found = await exec("find", "/tmp/odd", "-type", "f", "-print0");
    expect(found.exitCode).toBe(0);
    const listed = found.stdout.split("\0").filter(Boolean);
    expect(listed.sort()).toEqual(names.map((n) => `/tmp/odd/${n}`).sort());
    const ls = await exec("ls", "-1", "/tmp/odd", "/tmp/odd/$(touch /tmp", "/tmp/odd/`touch /tmp");
    // busybox ls shows unprintable bytes as "?"; find -print0 above is byte-exact.
    for (const name of names.filter((n) => /^[\x20-\x7e]+$/.test(n)))
      expect(ls.stdout.split("\n")).toContain(path.posix.basename(name));
    for (const name of names) {
      const cat = await exec("cat", `/tmp/odd/${name}`);
      expect(cat).toMatchObject({ exitCode: 0, stdout: `content of ${name}` });
    }
    expect((await exec("cat", "/tmp/-rf")).stdout).toBe("dash");
    // The longest name a directory entry can have still gets its temporary sibling.
    await sandbox.fs.writeFile(`/tmp/odd/${"n".repeat(255)}`, "long");
    expect((await exec("cat", `/tmp/odd/${"n".repeat(255)}`)).stdout).toBe("long");
    expect(await failure(sandbox.fs.writeFile(`/tmp/${"n".repeat(256)}`, "x"))).toBeInstanceOf(
      InvalidRequestError,
    );
    expect((await exec("ls", "/tmp/pwned")).exitCode).not.toBe(0);
    expect(existsSync("/tmp/pwned")).toBe(false);
  });

  it("`..` cannot climb out of the sandbox's root", async () => {
    const name = `paddock-dotdot-${runtime}`;
    expect(existsSync(`/etc/${name}`)).toBe(false);
    const entry = await sandbox.fs.writeFile(`/tmp/../../../etc/${name}`, "inside");
    expect(entry.path).toBe(`/etc/${name}`);
    expect(await exec("cat", `/etc/${name}`)).toMatchObject({ exitCode: 0, stdout: "inside" });
    expect(await sandbox.fs.readFile(`/../../etc/../etc/${name}`)).toBe("inside");
    expect(existsSync(`/etc/${name}`)).toBe(false);
  });

  it("symlinks made in the sandbox lead only within it", async () => {
    const probe = `paddock-probe-${runtime}`;
    const probe2 = `paddock-probe2-${runtime}`;
    expect(existsSync(`/etc/${probe}`) || existsSync(`/${probe2}`)).toBe(false);
    expect((await sh("ln -s /etc /tmp/link && ln -s ../../.. /tmp/up")).exitCode).toBe(0);
    await sandbox.fs.writeFile(`/tmp/link/${probe}`, "via link");
    await sandbox.fs.uploadFile(Buffer.from("via up"), `/tmp/up/${probe2}`);
    expect(await exec("cat", `/etc/${probe}`, `/${probe2}`)).toMatchObject({
      exitCode: 0,
      stdout: "via linkvia up",
    });
    expect(existsSync(`/etc/${probe}`)).toBe(false);
    expect(existsSync(`/${probe2}`)).toBe(false);
    // Reads through the link see the sandbox's /etc, not the host's.
    expect(await sandbox.fs.readFile("/tmp/link/passwd")).toBe(
      (await exec("cat", "/etc/passwd")).stdout,
    );
    expect(await sandbox.fs.statFile("/tmp/link")).toMatchObject({
      type: "symlink",
      symlinkTarget: "/etc",
    });
  });

  it("refuses NUL bytes, relative paths and the agent's own directory", async () => {
    const raw = await fetch(
      `${daemon.url}/v1/sandboxes/${sandbox.id}/files/stat?path=${encodeURIComponent("/tmp/a\0b")}`,
      { headers: { authorization: `Bearer ${daemon.token}` } },
    );
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe("invalid_request");
    expect(await failure(sandbox.fs.statFile("/tmp/a\0b"))).toBeInstanceOf(InvalidRequestError);
    for (const p of ["tmp/x", "./x", ""]) {
      const err = await failure(sandbox.fs.statFile(p));
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err.status).toBe(400);
    }
    expect(await failure(sandbox.fs.writeFile("relative.txt", "x"))).toBeInstanceOf(
      InvalidRequestError,
    );
    for (const call of [
      () => sandbox.fs.statFile("/.paddock/runtime/agent.js"),
      () => sandbox.fs.readFile("/.paddock/runtime/agent.js"),
      () => sandbox.fs.writeFile("/.paddock/sock/x", "x"),
      () => sandbox.fs.listFiles("/tmp/../.paddock"),
      () => sandbox.fs.deleteFile("/.paddock", { recursive: true }),
    ]) {
      const err = await failure(call());
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(err.code).toBe("permission_denied");
    }
    expect((await exec("ls", "/.paddock/runtime/agent.js")).exitCode).toBe(0);
  });

  it("reports missing paths, directories, devices and non-empty deletes with typed errors", async () => {
    const missing = await failure(sandbox.fs.statFile("/tmp/no/such/file"));
    expect(missing).toBeInstanceOf(FileNotFoundError);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ code: "file_not_found", status: 404 });
    expect(await failure(sandbox.fs.readFile("/tmp/no-such"))).toBeInstanceOf(FileNotFoundError);

    await sandbox.fs.writeFile("/tmp/errs/sub/file.txt", "x");
    const dir = await failure(sandbox.fs.readFile("/tmp/errs"));
    expect(dir).toBeInstanceOf(InvalidRequestError);
    expect(dir.status).toBe(400);
    expect(await failure(sandbox.fs.readFile("/dev/zero"))).toBeInstanceOf(InvalidRequestError);
    expect((await exec("mkfifo", "/tmp/errs/fifo")).exitCode).toBe(0);
    expect(await failure(sandbox.fs.readFile("/tmp/errs/fifo"))).toBeInstanceOf(
      InvalidRequestError,
    );
    const noParent = sandbox.fs.writeFile("/tmp/no-parent/x", "x", { createParents: false });
    expect(await failure(noParent)).toBeInstanceOf(FileNotFoundError);
    expect((await exec("ls", "/tmp/no-parent")).exitCode).not.toBe(0);
    expect(await failure(sandbox.fs.writeFile("/sys/paddock-x", "x"))).toBeInstanceOf(
      PermissionDeniedError,
    );
    expect(
      await failure(sandbox.fs.downloadFile("/dev/zero", path.join(localDir, "z"))),
    ).toMatchObject({ code: "invalid_request" });
    expect(existsSync(path.join(localDir, "z"))).toBe(false);

    const notEmpty = await failure(sandbox.fs.deleteFile("/tmp/errs"));
    expect(notEmpty).toBeInstanceOf(ConflictError);
    expect(notEmpty).toMatchObject({ code: "conflict", status: 409 });
    expect((await sandbox.fs.statFile("/tmp/errs/sub/file.txt")).type).toBe("file");

    expect(await failure(sandbox.fs.listFiles("/tmp/errs/sub/file.txt"))).toMatchObject({
      code: "invalid_request",
    });
    expect(await failure(sandbox.fs.createDirectory("/tmp/errs/sub/file.txt/x"))).toMatchObject({
      code: "invalid_request",
    });

    await sandbox.fs.deleteFile("/tmp/errs", { recursive: true });
    expect((await exec("ls", "/tmp/errs")).exitCode).not.toBe(0);
    expect(await failure(sandbox.fs.deleteFile("/tmp/errs"))).toBeInstanceOf(FileNotFoundError);
  });

  it("creates, renames and lists directories", async () => {
    expect((await sandbox.fs.createDirectory("/tmp/mk/a/b", { mode: 0o700 })).mode).toBe(0o700);
    expect((await exec("stat", "-c", "%a %F", "/tmp/mk/a/b")).stdout).toBe("700 directory\n");
    await sandbox.fs.writeFile("/tmp/mk/a/b/f", "moved");
    expect((await sandbox.fs.rename("/tmp/mk/a/b", "/tmp/mk/c")).type).toBe("dir");
    expect((await exec("cat", "/tmp/mk/c/f")).stdout).toBe("moved");
    const entries = await sandbox.fs.listFiles("/tmp/mk");
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ["a", "dir"],
      ["c", "dir"],
    ]);
  });

  it("finds lines with and without a glob and replaces only where it matches", async () => {
    await sandbox.fs.uploadFiles([
      { path: "/tmp/find/a.py", source: Buffer.from("x = 1\n# TODO fix\n") },
      { path: "/tmp/find/b.txt", source: Buffer.from("TODO later\nnothing\n") },
      { path: "/tmp/find/sub/c.py", source: Buffer.from("def f():\n    pass  # TODO\n") },
      { path: "/tmp/find/none.txt", source: Buffer.from("nothing to see\n") },
      { path: "/tmp/find/bin.dat", source: Buffer.from("TODO\0binary\n") },
    ]);
    const all = await sandbox.fs.findInFiles("/tmp/find", "TODO");
    expect([...all]).toEqual([
      { file: "/tmp/find/a.py", line: 2, text: "# TODO fix" },
      { file: "/tmp/find/b.txt", line: 1, text: "TODO later" },
      { file: "/tmp/find/sub/c.py", line: 2, text: "    pass  # TODO" },
    ]);
    expect(all.truncated).toBe(false);
    const py = await sandbox.fs.findInFiles("/tmp/find", "TODO", { glob: "**/*.py" });
    expect(py.map((m) => m.file)).toEqual(["/tmp/find/a.py", "/tmp/find/sub/c.py"]);
    const top = await sandbox.fs.findInFiles("/tmp/find", "TODO", { glob: "*.py" });
    expect(top.map((m) => m.file)).toEqual(["/tmp/find/a.py"]);
    const limited = await sandbox.fs.findInFiles("/tmp/find", "TODO", { maxMatches: 1 });
    expect(limited).toHaveLength(1);
    expect(limited.truncated).toBe(true);

    const changed = await sandbox.fs.replaceInFiles(
      ["/tmp/find/a.py", "/tmp/find/none.txt", "/tmp/find/b.txt"],
      "TODO (\\w+)",
      "DONE $1!",
    );
    expect(changed).toEqual(["/tmp/find/a.py", "/tmp/find/b.txt"]);
    expect(
      (await exec("cat", "/tmp/find/a.py", "/tmp/find/b.txt", "/tmp/find/none.txt")).stdout,
    ).toBe("x = 1\n# DONE fix!\nDONE later!\nnothing\nnothing to see\n");
    expect(await sandbox.fs.replaceInFiles(["/tmp/find/a.py"], "no such text", "whatever")).toEqual(
      [],
    );
    expect(await failure(sandbox.fs.findInFiles("/tmp/find", "("))).toBeInstanceOf(
      InvalidRequestError,
    );
  });
});

describe.each(RUNTIMES)("file edge cases on %s", (runtime) => {
  it("reads pseudo-files whose size stat does not know (/proc), to their end", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    try {
      const text = await sandbox.fs.readFile("/proc/version");
      expect(text).toMatch(/\S/);
      const cat = await (await sandbox.process.exec("cat", "/proc/version")).output();
      expect(text).toBe(cat.stdout);
    } finally {
      await sandbox.terminate();
    }
  });

  it("/tmp fills with a clear 507 inside the sandbox, not a dead sandbox", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, memoryMiB: 256 });
    try {
      const tmp = await (await sandbox.process.exec("df", "-k", "/tmp")).output();
      const freeKiB = Number(tmp.stdout.trim().split("\n").pop()!.split(/\s+/)[3]);
      if (runtime === "runsc") {
        expect(freeKiB).toBeLessThanOrEqual(128 * 1024);
        const err = await sandbox.fs
          .uploadFile(Buffer.alloc(200 * 1024 * 1024, 1), "/tmp/too-big.bin")
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "insufficient_storage" });
        expect((await sandbox.fs.listFiles("/tmp")).map((e) => e.name)).toEqual([]);
      }
      expect((await sandbox.info()).state).toBe("running");
      expect((await (await sandbox.process.exec("echo", "alive")).output()).stdout).toBe("alive\n");
    } finally {
      await sandbox.terminate();
    }
  });
});
