import { createHash, randomBytes } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
} from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InsufficientStorageError, Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

const MiB = 1024 * 1024;
const BIG = 1024 * MiB;

let daemon: TestDaemon;
let localDir: string;
let bigFile: string;
let bigHash: string;
beforeAll(async () => {
  daemon = await startDaemon();
  localDir = await mkdtemp(path.join(tmpdir(), "paddock-transfer-"));
  // 1 GiB of random bytes, streamed to disk and hashed on the way: never whole in memory.
  bigFile = path.join(localDir, "big.bin");
  const hash = createHash("sha256");
  await pipeline(async function* () {
    for (let i = 0; i < BIG; i += MiB) {
      const chunk = randomBytes(MiB);
      hash.update(chunk);
      yield chunk;
    }
  }, createWriteStream(bigFile));
  bigHash = hash.digest("hex");
});
afterAll(async () => {
  await daemon?.stop();
  if (localDir) await rm(localDir, { recursive: true, force: true });
});

async function hashFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
}

/** The runc sandbox's agent as the host sees it: node running agent.js, in the sandbox's cgroup. */
function runcAgentPid(sandboxId: string): number {
  const pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  const found = pids.filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return (
        argv.includes("/.paddock/runtime/agent.js") &&
        !argv[0]!.endsWith("/tini") &&
        !argv[0]!.endsWith("/paddock-init") &&
        readFileSync(`/proc/${pid}/cgroup`, "utf8").includes(sandboxId)
      );
    } catch {
      return false; // gone meanwhile
    }
  });
  expect(found).toHaveLength(1);
  return Number(found[0]);
}

/** Reads a value every 200 ms while something runs; `stop` gives the peak. */
function samplePeak(read: () => number | Promise<number>): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  let failed: unknown;
  const loop = (async () => {
    while (running) {
      try {
        peak = Math.max(peak, await read());
      } catch (err) {
        failed = err; // reported by stop(), not as an unhandled rejection
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      if (failed) throw failed;
      return Math.max(peak, await read());
    },
  };
}

const STALL_MS = 60_000;

/**
 * Runs a transfer with progress; one that moves no byte for a minute is aborted, so a hang
 * fails with where it stopped rather than as a test timeout.
 */
async function watched<T>(
  what: string,
  run: (opts: { signal: AbortSignal; onProgress: (n: number) => void }) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let bytes = 0;
  let seen = 0;
  let since = Date.now();
  const watchdog = setInterval(() => {
    if (bytes !== seen) [seen, since] = [bytes, Date.now()];
    else if (Date.now() - since > STALL_MS)
      controller.abort(new Error(`${what} stalled at ${bytes} bytes for ${STALL_MS / 1000} s`));
  }, 1000);
  try {
    return await run({ signal: controller.signal, onProgress: (n) => (bytes = n) });
  } catch (err) {
    throw controller.signal.aborted ? controller.signal.reason : err;
  } finally {
    clearInterval(watchdog);
  }
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100)))
    if (await check()) return true;
  return check();
}

/** Walks a local tree: relative path → "dir mode", "link target" or "file mode sha256". */
async function describeTree(root: string, rel = "", out: Record<string, string> = {}) {
  for (const name of await readdir(path.join(root, rel))) {
    const childRel = rel ? `${rel}/${name}` : name;
    const full = path.join(root, childRel);
    const st = await lstat(full);
    const mode = (st.mode & 0o777).toString(8);
    if (st.isSymbolicLink()) out[childRel] = `link ${await readlink(full)}`;
    else if (st.isDirectory()) {
      out[childRel] = `dir ${mode}`;
      await describeTree(root, childRel, out);
    } else out[childRel] = `file ${mode} ${sha256(await readFile(full))}`;
  }
  return out;
}

describe.each(RUNTIMES)("file transfers on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    // Headroom for the 1 GiB file: runsc's rootfs overlay keeps its data in a filestore whose
    // pages are charged to the sandbox's memory cgroup.
    // It outlives the slow tests even on a busy machine (the reaper ends it after this).
    sandbox = await Sandbox.create({
      ...daemon.client,
      runtime,
      memoryMiB: 3072,
      timeoutSeconds: 3600,
    });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  const exec = async (...argv: string[]) => (await sandbox.process.exec(argv)).output();
  // The agent is the parent of every process it starts.
  const agentStatus = async (field: "VmRSS" | "VmHWM") => {
    const res = await exec("sh", "-c", `grep ${field} /proc/$PPID/status || true`);
    return /(\d+) kB/.exec(res.stdout)?.[1];
  };

  /** Sizes of the upload temporaries in a sandbox directory. */
  const temporaries = async (dir: string) => {
    const script = 'for f in "$1"/.paddock-*.tmp; do [ -e "$f" ] && stat -c %s "$f"; done; true';
    const res = await exec("sh", "-c", script, "sh", dir);
    expect(res.exitCode).toBe(0);
    return res.stdout.split("\n").filter(Boolean).map(Number);
  };

  // First in the file, so the agent's peak (VmHWM) is not from an earlier test.
  it("uploads and downloads 1 GiB with the same SHA-256 and flat daemon and agent memory", async () => {
    const remote = "/root/big.bin";
    const local = path.join(localDir, `down-${runtime}.bin`);
    // Seen from the host: the daemon, and under runc the agent too (gVisor hides it).
    const readers: Record<string, () => number | Promise<number>> = {
      daemon: () => statusKiB(daemon.process.pid!, "VmRSS"),
      "agent (in sandbox)": async () => Number(await agentStatus("VmRSS")),
    };
    if (runtime === "runc") {
      const pid = runcAgentPid(sandbox.id);
      readers["agent (host)"] = () => statusKiB(pid, "VmRSS");
    }
    try {
      for (const direction of ["upload", "download"] as const) {
        const before: Record<string, number> = {};
        for (const [name, read] of Object.entries(readers)) before[name] = await read();
        // gVisor's /proc has no VmHWM; under runc it is the agent's exact peak.
        const hwmBefore = await agentStatus("VmHWM");
        const samplers = Object.values(readers).map(samplePeak);
        const started = Date.now();
        let seconds = 0;
        try {
          await watched(`${runtime} ${direction} of 1 GiB`, async (opts) => {
            if (direction === "download") return sandbox.fs.downloadFile(remote, local, opts);
            expect((await sandbox.fs.uploadFile(bigFile, remote, opts)).size).toBe(BIG);
          });
          seconds = (Date.now() - started) / 1000;
        } finally {
          // Stopped either way, so no sampler outlives a failure.
          await Promise.allSettled(samplers.map((s) => s.stop()));
        }
        const peaks = await Promise.all(samplers.map((s) => s.stop()));
        const growth = Object.fromEntries(
          Object.keys(readers).map((name, i) => [
            name,
            Math.round((peaks[i]! - before[name]!) / 1024),
          ]),
        );
        if (hwmBefore !== undefined)
          growth["agent VmHWM"] = Math.round(
            (Number(await agentStatus("VmHWM")) - Number(hwmBefore)) / 1024,
          );
        console.log(
          `${runtime} ${direction} 1 GiB: ${seconds.toFixed(1)} s; growth in MiB`,
          growth,
        );
        for (const g of Object.values(growth)) expect(g).toBeLessThan(100);
        if (runtime === "runc") expect(hwmBefore).toBeDefined();
      }
      expect(await hashFile(local)).toBe(bigHash);
      const inside = await exec("sha256sum", remote);
      expect(inside.stdout.split(" ")[0]).toBe(bigHash);
      expect((await sandbox.fs.statFile(remote)).size).toBe(BIG);
    } finally {
      await rm(local, { force: true });
      await sandbox.fs.deleteFile(remote).catch(() => undefined);
    }
    expect((await exec("ls", remote)).exitCode).not.toBe(0);
  }, 600_000);

  /** An upload request that announces 64 MiB (a known length: the native copier's road). */
  const announcedUpload = (target: string) => {
    const url = new URL(`${daemon.url}/v1/sandboxes/${sandbox.id}/files`);
    url.searchParams.set("path", target);
    return http.request(url, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${daemon.token}`,
        "content-type": "application/octet-stream",
        "content-length": 64 * MiB,
      },
    });
  };

  /**
   * Starts an upload that sends 8 MiB then stalls, and aborts it once the agent holds the 8 MiB.
   * "stream": the SDK with a stream of unknown length (the agent's Node reads it); "known
   * length": a request that announces 64 MiB (large uploads of known length go to the agent's
   * native copier).
   */
  async function abortHalfway(target: string, kind: "stream" | "known length"): Promise<void> {
    const dir = path.posix.dirname(target);
    let abort: () => void;
    let outcome: Promise<string>;
    if (kind === "stream") {
      const controller = new AbortController();
      let sent = false;
      const source = new Readable({
        read() {
          if (!sent) this.push(randomBytes(8 * MiB));
          sent = true; // then nothing more, and no end: a stalled client
        },
      });
      outcome = sandbox.fs.uploadFile(source, target, { signal: controller.signal }).then(
        () => "finished",
        (err: Error) => err.name,
      );
      abort = () => controller.abort();
    } else {
      const request = announcedUpload(target);
      outcome = new Promise((resolve) => {
        request.on("response", () => resolve("answered"));
        request.on("error", () => resolve("AbortError"));
      });
      request.write(randomBytes(8 * MiB));
      abort = () => request.destroy();
    }
    const received = await until(async () => (await temporaries(dir)).includes(8 * MiB), 15_000);
    expect(received).toBe(true);
    abort();
    expect(await outcome).toBe("AbortError");
    // The agent sees the connection go and removes its temporary file.
    expect(await until(async () => (await temporaries(dir)).length === 0, 3000)).toBe(true);
  }

  for (const kind of ["stream", "known length"] as const) {
    it(`an aborted upload (${kind}) of a new file leaves nothing behind`, async () => {
      const dir = `/tmp/abort-new-${kind.replace(" ", "-")}`;
      await sandbox.fs.createDirectory(dir);
      await abortHalfway(`${dir}/target.bin`, kind);
      expect((await exec("ls", "-A", dir)).stdout).toBe("");
    });

    it(`an aborted upload (${kind}) over a file keeps its old content`, async () => {
      const file = `/tmp/abort-old-${kind.replace(" ", "-")}/target.bin`;
      await sandbox.fs.writeFile(file, "old content\n", { mode: 0o640 });
      await abortHalfway(file, kind);
      expect(await exec("cat", file)).toMatchObject({ stdout: "old content\n" });
      expect((await exec("ls", "-A", path.posix.dirname(file))).stdout).toBe("target.bin\n");
      expect((await sandbox.fs.statFile(file)).mode).toBe(0o640);
    });
  }

  it("a large upload (the native copier's road) keeps every rule of an upload", async () => {
    const big = randomBytes(9 * MiB);
    // Mode, parents made, content exact, no temporary left.
    const entry = await sandbox.fs.uploadFile(big, "/tmp/large/a/b/tool.bin", { mode: 0o755 });
    expect(entry).toMatchObject({ size: big.length, mode: 0o755, type: "file" });
    const inside = await exec("sha256sum", "/tmp/large/a/b/tool.bin");
    expect(inside.stdout.split(" ")[0]).toBe(sha256(big));
    expect(await temporaries("/tmp/large/a/b")).toEqual([]);
    // Replacing a file keeps its mode when none is given.
    await sandbox.fs.uploadFile(randomBytes(9 * MiB), "/tmp/large/a/b/tool.bin");
    expect((await sandbox.fs.statFile("/tmp/large/a/b/tool.bin")).mode).toBe(0o755);
    // Refusals come before any byte is taken, with the same errors as small uploads.
    const refusals: [string, object, string, number][] = [
      ["/tmp/large/missing/x.bin", { createParents: false }, "file_not_found", 404],
      ["/tmp/large/a", {}, "invalid_request", 400],
      ["/.paddock/x.bin", {}, "permission_denied", 403],
    ];
    for (const [target, options, code, status] of refusals) {
      const err = await sandbox.fs.uploadFile(big, target, options).catch((e: unknown) => e);
      expect(err, target).toMatchObject({ code, status });
    }
    // The connection goes on being used after each refusal.
    expect((await exec("echo", "still here")).stdout).toBe("still here\n");
    await sandbox.fs.deleteFile("/tmp/large", { recursive: true });
  });

  it("a client that leaves right after a large upload's headers leaves no file and no helper", async () => {
    await sandbox.fs.createDirectory("/tmp/early");
    for (const waitMs of [0, 20, 200]) {
      const request = announcedUpload("/tmp/early/x.bin");
      request.on("error", () => {});
      request.flushHeaders();
      await new Promise((r) => setTimeout(r, waitMs));
      request.destroy();
    }
    const copiers = async () => {
      const script = 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done 2>/dev/null';
      return (await exec("sh", "-c", script)).stdout
        .split("\n")
        .filter((l) => l.includes("paddock-copy"));
    };
    expect(await until(async () => (await copiers()).length === 0, 5000)).toBe(true);
    expect(await until(async () => (await temporaries("/tmp/early")).length === 0, 3000)).toBe(
      true,
    );
    expect((await exec("ls", "-A", "/tmp/early")).stdout).toBe("");
  });

  it("a full disk is a 507 and leaves no partial file", async () => {
    // /dev/shm is a 64 MiB tmpfs in every sandbox.
    const df = await exec("df", "-k", "/dev/shm");
    expect(df.stdout).toMatch(/\s65536\s/);
    const sources = {
      stream: () =>
        Readable.from(
          (function* () {
            for (let i = 0; i < 100; i++) yield Buffer.alloc(MiB, i);
          })(),
        ),
      bytes: () => Buffer.alloc(100 * MiB, 1),
    };
    for (const [kind, source] of Object.entries(sources)) {
      const err = await sandbox.fs
        .uploadFile(source(), `/dev/shm/${kind}.bin`)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InsufficientStorageError);
      expect(err).toMatchObject({ code: "insufficient_storage", status: 507 });
      expect((await exec("ls", "-A", "/dev/shm")).stdout).toBe("");
      expect(await temporaries("/dev/shm")).toEqual([]);
    }
    // The space was given back: a file that fits still goes in.
    await sandbox.fs.uploadFile(Buffer.alloc(32 * MiB, 2), "/dev/shm/fits.bin");
    expect((await exec("stat", "-c", "%s", "/dev/shm/fits.bin")).stdout).toBe(`${32 * MiB}\n`);
    await sandbox.fs.deleteFile("/dev/shm/fits.bin");
  });

  it("50 parallel uploads all land intact", async () => {
    const files = Array.from({ length: 50 }, (_, i) => randomBytes(256 * 1024 + i * 1024));
    const name = (i: number) => `f${String(i).padStart(2, "0")}`;
    await Promise.all(
      files.map((data, i) =>
        sandbox.fs.uploadFile(i % 2 ? Readable.from([data]) : data, `/tmp/par/${name(i)}`),
      ),
    );
    const sums = await exec("sh", "-c", "cd /tmp/par && sha256sum *");
    expect(sums.exitCode).toBe(0);
    expect(sums.stdout).toBe(files.map((data, i) => `${sha256(data)}  ${name(i)}\n`).join(""));
  });

  it("uploads 1000 files in one batch", async () => {
    const files = Array.from({ length: 1000 }, (_, i) => ({
      path: `/tmp/batch/f${String(i).padStart(4, "0")}`,
      source: randomBytes(4096),
    }));
    const results = await sandbox.fs.uploadFiles(files);
    expect(results).toHaveLength(1000);
    expect(results.filter((r) => r.ok)).toHaveLength(1000);
    expect((await exec("sh", "-c", "ls /tmp/batch | wc -l")).stdout.trim()).toBe("1000");
    const all = await exec("sh", "-c", "cat /tmp/batch/* | sha256sum");
    expect(all.stdout.split(" ")[0]).toBe(sha256(Buffer.concat(files.map((f) => f.source))));
  });

  it("a batch entry that cannot be written fails alone", async () => {
    await sandbox.fs.createDirectory("/tmp/batch2/taken");
    const name = `paddock-batch-${runtime}`;
    const results = await sandbox.fs.uploadFiles([
      { path: "/tmp/batch2/a", source: Buffer.from("a") },
      { path: "/tmp/batch2/taken", source: Buffer.from("not a dir") },
      { path: "/.paddock/x", source: Buffer.from("reserved") },
      { path: `/tmp/../../etc/${name}`, source: Buffer.from("climbed") },
      { path: "/tmp/batch2/b", source: Buffer.from("b"), mode: 0o700 },
    ]);
    expect(results.map((r) => [r.path, r.ok, r.error?.code])).toEqual([
      ["/tmp/batch2/a", true, undefined],
      ["/tmp/batch2/taken", false, "invalid_request"],
      ["/.paddock/x", false, "permission_denied"],
      [`/etc/${name}`, true, undefined],
      ["/tmp/batch2/b", true, undefined],
    ]);
    expect((await exec("cat", "/tmp/batch2/a", "/tmp/batch2/b", `/etc/${name}`)).stdout).toBe(
      "abclimbed",
    );
    expect((await exec("stat", "-c", "%a %F", "/tmp/batch2/b", "/tmp/batch2/taken")).stdout).toBe(
      "700 regular file\n755 directory\n",
    );
    expect(existsSync(`/etc/${name}`)).toBe(false);
  });

  it("uploads a directory tree and downloads it back the same", async () => {
    const src = path.join(localDir, `tree-${runtime}`);
    await mkdir(path.join(src, "sub/deeper"), { recursive: true });
    await writeFile(path.join(src, "a.txt"), "top\n");
    await writeFile(path.join(src, "sub/b.txt"), "nested\n");
    await writeFile(path.join(src, "sub/deeper/c.bin"), randomBytes(100_000));
    await writeFile(path.join(src, "run.sh"), "#!/bin/sh\necho tree ran\n");
    await chmod(path.join(src, "run.sh"), 0o755);
    await symlink("sub/b.txt", path.join(src, "link"));

    const results = await sandbox.fs.uploadDirectory(src, "/tmp/tree");
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results).toHaveLength(7);
    expect((await exec("/tmp/tree/run.sh")).stdout).toBe("tree ran\n");
    expect((await exec("cat", "/tmp/tree/link")).stdout).toBe("nested\n");
    expect((await exec("readlink", "/tmp/tree/link")).stdout).toBe("sub/b.txt\n");

    const back = path.join(localDir, `tree-back-${runtime}`);
    expect(await sandbox.fs.downloadDirectory("/tmp/tree", back)).toBe(7);
    const tree = await describeTree(back);
    expect(tree).toEqual(await describeTree(src));
    expect(tree["run.sh"]).toMatch(/^file 755 /);
    expect(Object.keys(tree).sort()).toEqual([
      "a.txt",
      "link",
      "run.sh",
      "sub",
      "sub/b.txt",
      "sub/deeper",
      "sub/deeper/c.bin",
    ]);
  });
});
