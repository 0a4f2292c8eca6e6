import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

/** Every regular file under `dir`, with its sha256, inode and link count. */
function fingerprint(dir: string): Map<string, { sha: string; ino: number; nlink: number }> {
  const out = new Map<string, { sha: string; ino: number; nlink: number }>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const st = statSync(p);
        const sha = createHash("sha256").update(readFileSync(p)).digest("hex");
        out.set(path.relative(dir, p), { sha, ino: st.ino, nlink: st.nlink });
      }
    }
  };
  walk(dir);
  return out;
}

const runtimeDirs = () => {
  const base = path.join(daemon.dataDir, "agent-runtime");
  return readdirSync(base).map((d) => path.join(base, d));
};

describe.each(RUNTIMES)("host escapes on %s", (runtime) => {
  it("nothing inside can change a byte of the runtime mount, and none of its files is a host file's link", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    try {
      const [dir] = runtimeDirs();
      const before = fingerprint(dir!);
      // A hard link would share its inode (and so its bytes) with the host's node or libc.
      for (const [name, f] of before) expect({ name, nlink: f.nlink }).toEqual({ name, nlink: 1 });
      // Each attempt runs in a subshell: a failed redirection ends a non-interactive sh.
      const script = `
        cd /.paddock/runtime
        for f in $(find . -type f); do
          (: > "$f") 2>/dev/null && echo "O_TRUNC $f"
          (echo x >> "$f") 2>/dev/null && echo "append $f"
          (echo x 1<> "$f") 2>/dev/null && echo "open-rw $f"
          truncate -s 0 "$f" 2>/dev/null && echo "truncate $f"
          chmod 777 "$f" 2>/dev/null && echo "chmod $f"
          ln "$f" "$f.link" 2>/dev/null && echo "link $f"
          mv "$f" "$f.moved" 2>/dev/null && echo "rename $f"
          rm -f "$f" 2>/dev/null; [ -e "$f" ] || echo "unlink $f"
        done
        mknod ./dev-beside c 1 3 2>/dev/null && echo "mknod"
        (echo x > ./new-file) 2>/dev/null && echo "create"
        echo checked
      `;
      const { stdout } = await (await sandbox.process.run(script)).output();
      expect(stdout).toBe("checked\n");
      const after = fingerprint(dir!);
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      for (const [name, f] of before)
        expect({ name, sha: after.get(name)!.sha }).toEqual({ name, sha: f.sha });
    } finally {
      await sandbox.terminate();
    }
  });

  it("the socket dir takes nothing but the socket: no 200 MiB file, no device, no directory", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime });
    try {
      const script = `
        dd if=/dev/zero of=/.paddock/sock/big bs=1M count=200 2>/dev/null && echo "dd"
        mknod /.paddock/sock/null c 1 3 2>/dev/null && echo "mknod"
        mkdir /.paddock/sock/d 2>/dev/null && echo "mkdir"
        rm -f /.paddock/sock/agent.sock 2>/dev/null; [ -S /.paddock/sock/agent.sock ] || echo "unlink"
        echo checked
      `;
      const { stdout } = await (await sandbox.process.run(script)).output();
      expect(stdout).toBe("checked\n");
      const hostDir = path.join(daemon.dataDir, "sandboxes", sandbox.id, "sock");
      expect(readdirSync(hostDir)).toEqual(["agent.sock"]);
      expect((await (await sandbox.process.exec("echo", "ok")).output()).stdout).toBe("ok\n");
    } finally {
      await sandbox.terminate();
    }
  });

  it("a symlink race cannot make the API write, create or leave anything under /.paddock", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, memoryMiB: 512 });
    try {
      await sandbox.fs.createDirectory("/r/d");
      // Swap /r/d between a directory and a symlink to the socket dir as fast as possible.
      const racer = await sandbox.process.run(
        "cd /r; while :; do mv d real; ln -s /.paddock/sock d; rm d; mv real d; done",
        { background: true },
      );
      const big = Buffer.alloc(9 * 1024 * 1024, 1);
      const deadline = Date.now() + 10_000;
      let i = 0;
      while (Date.now() < deadline) {
        const n = i++;
        await Promise.allSettled([
          sandbox.fs.writeFile(`/r/d/small-${n}`, "x"),
          sandbox.fs.uploadFile(big, `/r/d/big-${n}`),
          sandbox.fs.createDirectory(`/r/d/dir-${n}/sub`),
        ]);
      }
      await sandbox.process.kill(racer.pid);
      const hostDir = path.join(daemon.dataDir, "sandboxes", sandbox.id, "sock");
      expect(readdirSync(hostDir)).toEqual(["agent.sock"]);
      const { stdout } = await (
        await sandbox.process.run(
          "find /r /.paddock/sock -name '.paddock-*'; ls -A /.paddock/sock; echo end",
        )
      ).output();
      expect(stdout).toBe("agent.sock\nend\n");
    } finally {
      await sandbox.terminate();
    }
  });
});
