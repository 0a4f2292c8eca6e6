import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, type SandboxProcess } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

// Not one byte a process wrote before it exited may be lost, however loaded the machine is.
// Bounded: well under a minute per runtime.

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SHA-256 and length of a stream read to its end, optionally pausing now and then. */
async function digest(
  stream: AsyncIterable<Uint8Array>,
  pauseMs = 0,
): Promise<{ sha: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  let chunks = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
    if (pauseMs && ++chunks % 16 === 0) await sleep(pauseMs);
  }
  return { sha: hash.digest("hex"), bytes };
}

describe.each(RUNTIMES)("no output lost on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime, memoryMiB: 512 });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it("20 runs of 20 MiB arrive whole, SHA-256 checked", async () => {
    const made = await (
      await sandbox.process.run("head -c 20971520 /dev/urandom > /tmp/r && sha256sum /tmp/r")
    ).output();
    const expected = made.stdout.split(" ")[0];
    for (let i = 0; i < 20; i++) {
      const proc = await sandbox.process.exec("cat", "/tmp/r");
      const got = await digest(proc.stdout);
      expect({ run: i, ...got }).toEqual({ run: i, sha: expected, bytes: 20 * MiB });
      expect((await proc.wait()).exitCode).toBe(0);
    }
  });

  it("stderr written at the end arrives while stdout is read slowly (20 runs)", async () => {
    const script =
      "rm -f /tmp/f; mkfifo /tmp/f; sha256sum /tmp/f >&2 & head -c 1048576 /dev/urandom | tee /tmp/f; wait";
    for (let i = 0; i < 20; i++) {
      const proc: SandboxProcess = await sandbox.process.run(script);
      const [out, err] = await Promise.all([digest(proc.stdout, 2), proc.stderr.text()]);
      expect({ run: i, stderr: err.split(" ")[0], bytes: out.bytes }).toEqual({
        run: i,
        stderr: out.sha,
        bytes: MiB,
      });
      expect((await proc.wait()).exitCode).toBe(0);
    }
  });

  it("200 concurrent short execs each give their exact output", async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const proc = await sandbox.process.exec("echo", `run-${i}`);
        return (await proc.output()).stdout;
      }),
    );
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => `run-${i}\n`));
  });

  it("a process that exits while its reader is paused loses nothing", async () => {
    const proc = await sandbox.process.exec("head", "-c", String(8 * MiB), "/dev/zero");
    let bytes = 0;
    let paused = false;
    for await (const chunk of proc.stdout) {
      bytes += chunk.length;
      if (!paused && bytes >= MiB) {
        paused = true;
        // The process finishes and exits meanwhile; its last bytes wait in the pipe.
        await sleep(1500);
      }
    }
    expect(bytes).toBe(8 * MiB);
    expect((await proc.wait()).exitCode).toBe(0);
  });
});
