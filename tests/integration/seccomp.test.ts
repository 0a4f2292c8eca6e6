import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, type SandboxProcess } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";

/**
 * runc sandboxes share the host's kernel, so they run under a seccomp filter with the coverage
 * of Docker's default profile (packages/daemon/src/runtimes/seccomp-profile.ts). Checked from
 * inside a real sandbox: the refused calls fail, and the programs people run keep working.
 * runsc sandboxes have no such filter (gVisor's kernel is the boundary) and are not tested here.
 */

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

const out = async (p: Promise<SandboxProcess>) => (await p).output();

/**
 * Makes each refused call through libc's syscall(), from python3 in the sandbox, and prints
 * "ok" or the errno's name for each. Without the filter every call but mount succeeds (mount
 * is EPERM either way: a sandbox has no CAP_SYS_ADMIN) and clone3(NULL, 0) is EINVAL.
 */
const PROBE = String.raw`
import ctypes, errno, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def call(nr, *args):
    """'ok', or the errno's name."""
    conv = [ctypes.c_char_p(a) if isinstance(a, bytes) else ctypes.c_long(a) for a in args]
    r = libc.syscall(ctypes.c_long(nr), *conv)
    return errno.errorcode[ctypes.get_errno()] if r == -1 else "ok"

def fd_call(nr, *args):
    """The same, closing the descriptor a call that succeeds returns."""
    conv = [ctypes.c_long(a) for a in args]
    r = libc.syscall(ctypes.c_long(nr), *conv)
    if r == -1:
        return errno.errorcode[ctypes.get_errno()]
    os.close(r)
    return "ok"

def clone_newuser():
    # Raw clone(CLONE_NEWUSER | SIGCHLD): fork-like, the child leaves at once.
    r = libc.syscall(ctypes.c_long(56), *[ctypes.c_long(a) for a in (0x10000000 | 17, 0, 0, 0, 0)])
    if r == 0:
        os._exit(0)
    if r == -1:
        return errno.errorcode[ctypes.get_errno()]
    os.waitpid(r, 0)
    return "ok"

params = ctypes.create_string_buffer(120)
results = {
    "keyctl": call(250, 0, -3, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": call(248, b"user", b"paddock", b"x", 1, -3),
    "io_uring_setup": fd_call(425, 1, ctypes.addressof(params)),
    "socket_vsock": fd_call(41, 40, socket.SOCK_STREAM, 0),
    # The kernel reads the domain as an int: 40 + 2**32 is AF_VSOCK too.
    "socket_vsock_high_bits": fd_call(41, 40 + (1 << 32), socket.SOCK_STREAM, 0),
    "clone_newuser": clone_newuser(),
    # clone3(NULL, 0): EINVAL from the kernel, ENOSYS from the filter.
    "clone3": call(435, 0, 0),
    "mount": call(165, b"none", b"/mnt", b"tmpfs", 0, 0),
    # personality(ADDR_NO_RANDOMIZE), as setarch -R and gdb do.
    "personality": call(135, 0x0040000),
    # userfaultfd(UFFD_USER_MODE_ONLY), which an unprivileged process may otherwise open.
    "userfaultfd": fd_call(323, 1),
    # Last: where it succeeds, it leaves this process in a user namespace of its own.
    "unshare_user": call(272, 0x10000000),
}
print(json.dumps(results))
`;

describe("the seccomp filter of a runc sandbox (debian image)", () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime: "runc", image: "debian" });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it("holds every process in the sandbox, the agent included (Seccomp: 2 is filter mode)", async () => {
    const res = await out(sandbox.process.run("grep -H '^Seccomp:' /proc/[0-9]*/status"));
    expect(res.exitCode).toBe(0);
    const lines = res.stdout.trim().split("\n");
    // tini, the agent's node and this shell at least.
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line).toMatch(/:Seccomp:\s+2$/);
  });

  it("refuses unshare of user and mount namespaces", async () => {
    for (const argv of [
      ["unshare", "-U", "true"],
      ["unshare", "-m", "true"],
      ["unshare", "-U", "-r", "-m", "true"],
    ]) {
      const res = await out(sandbox.process.exec(argv));
      expect(res.exitCode, argv.join(" ")).not.toBe(0);
      expect(res.stderr).toMatch(/Operation not permitted/);
    }
  });

  it("refuses keyctl, io_uring, AF_VSOCK sockets, namespaced clone, mount and the rest", async () => {
    const res = await out(sandbox.process.runCode(PROBE, { language: "python" }));
    expect(res.stderr).toBe("");
    expect(JSON.parse(res.stdout)).toEqual({
      keyctl: "EPERM",
      add_key: "EPERM",
      io_uring_setup: "EPERM",
      socket_vsock: "EPERM",
      socket_vsock_high_bits: "EPERM",
      unshare_user: "EPERM",
      clone_newuser: "EPERM",
      clone3: "ENOSYS",
      mount: "EPERM",
      personality: "EPERM",
      userfaultfd: "EPERM",
    });
  });

  it("python3 keeps working: threads, subprocesses, multiprocessing, sockets, asyncio", async () => {
    const code = String.raw`
import asyncio, concurrent.futures, json, multiprocessing, socket, subprocess, threading, tempfile, os

box = []
t = threading.Thread(target=lambda: box.append("thread"))
t.start(); t.join()
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    squares = list(pool.map(lambda x: x * x, range(8)))
echo = subprocess.run(["sh", "-c", "echo sub"], capture_output=True, text=True).stdout.strip()
with multiprocessing.Pool(2) as mp:
    doubled = mp.map(abs, [-1, -2, -3])
a, b = socket.socketpair()
a.sendall(b"ping"); pong = b.recv(4).decode()
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "f")
    open(path, "w").write("data")
    data = open(path).read()

async def main():
    proc = await asyncio.create_subprocess_exec("true")
    return await proc.wait()

print(json.dumps([box, squares[-1], echo, doubled, pong, data, asyncio.run(main())]))
`;
    const res = await out(sandbox.process.runCode(code, { language: "python" }));
    expect(res.stderr).toBe("");
    expect(JSON.parse(res.stdout)).toEqual([["thread"], 49, "sub", [1, 2, 3], "ping", "data", 0]);
  });

  it("node keeps working with io_uring refused, even when libuv is told to use it", async () => {
    const code = String.raw`
const fs = require("node:fs");
const { execFileSync } = require("node:child_process");
const { Worker } = require("node:worker_threads");
const zlib = require("node:zlib");
(async () => {
  const dir = fs.mkdtempSync("/tmp/uv-");
  await Promise.all(
    Array.from({ length: 32 }, (_, i) => fs.promises.writeFile(dir + "/f" + i, String(i))),
  );
  const read = await Promise.all(
    Array.from({ length: 32 }, (_, i) => fs.promises.readFile(dir + "/f" + i, "utf8")),
  );
  const total = read.reduce((a, b) => a + Number(b), 0);
  const child = execFileSync("sh", ["-c", "echo child"], { encoding: "utf8" }).trim();
  const fromWorker = await new Promise((resolve, reject) => {
    const w = new Worker("require('node:worker_threads').parentPort.postMessage(6 * 7)", {
      eval: true,
    });
    w.once("message", resolve);
    w.once("error", reject);
  });
  const zipped = await new Promise((resolve, reject) =>
    zlib.gzip("x".repeat(10000), (err, buf) => (err ? reject(err) : resolve(buf.length))),
  );
  console.log(JSON.stringify([total, child, fromWorker, zipped < 200]));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;
    const res = await out(
      sandbox.process.runCode(code, { language: "node", env: { UV_USE_IO_URING: "1" } }),
    );
    expect(res.stderr).toBe("");
    expect(JSON.parse(res.stdout)).toEqual([496, "child", 42, true]);
  });

  it("Debian's own tools keep working (dpkg)", async () => {
    const res = await out(sandbox.process.exec(["dpkg-query", "-W", "-f", "${Status}", "python3"]));
    expect(res).toMatchObject({ exitCode: 0, stdout: "install ok installed" });
  });

  // The built-in debian image is bookworm minbase with python3 only: git and pip are not in it.
  // These run wherever they are present (a custom image), and say so where they are not.
  it("git keeps working, where the image has it", async (ctx) => {
    if ((await out(sandbox.process.run("command -v git"))).exitCode !== 0) {
      ctx.skip("git is not in the debian test image");
    }
    const res = await out(
      sandbox.process.run(
        "cd /tmp && git init -q repo && cd repo && echo x > f && git add f && " +
          "git -c user.name=t -c user.email=t@t commit -qm x && git log --oneline | wc -l",
      ),
    );
    expect(res).toMatchObject({ exitCode: 0, stdout: "1\n" });
  });

  it("pip keeps working, where the image has it", async (ctx) => {
    if ((await out(sandbox.process.exec(["python3", "-m", "pip", "--version"]))).exitCode !== 0) {
      ctx.skip("pip is not in the debian test image");
    }
    const res = await out(sandbox.process.exec(["python3", "-m", "pip", "list"]));
    expect(res.exitCode).toBe(0);
  });
});

describe("the seccomp filter of a runc sandbox (busybox image)", () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime: "runc", image: "busybox" });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it("holds, and busybox's applets keep working", async () => {
    const res = await out(
      sandbox.process.run(
        "grep '^Seccomp:' /proc/self/status; mkdir -p /tmp/d && echo hi > /tmp/d/f && " +
          "tar -C /tmp -cf - d | tar -tf - && sort -r /tmp/d/f && (sleep 0.1 & wait) && echo done",
      ),
    );
    expect(res).toMatchObject({
      exitCode: 0,
      stdout: "Seccomp:\t2\nd/\nd/f\nhi\ndone\n",
    });
  });
});
