import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import tar from "tar-stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AgentUnavailableError,
  ImageBuildFailedError,
  InvalidRequestError,
  InvalidResponseError,
  isPaddockError,
  NetworkError,
  type PaddockError,
} from "../src/errors.js";
import { Images } from "../src/images.js";
import { Sandbox } from "../src/sandbox.js";
import {
  answer,
  cutAfter,
  fakeDaemon,
  line,
  SANDBOX_ID,
  type FakeDaemon,
  type Handler,
} from "./helpers/fake-daemon.js";

/**
 * Every stream the SDK reads, cut or garbled by a daemon on port 0 through the SDK's own
 * transport: what comes out is always a PaddockError with a code, never Node's "aborted".
 */

const PROCESSES = `/v1/sandboxes/${SANDBOX_ID}/processes`;
const FILES = `/v1/sandboxes/${SANDBOX_ID}/files`;
const START = line({ type: "start", pid: 42, tag: null });
const STDOUT = line({ type: "stdout", data: Buffer.from("hello\n").toString("base64") });

let daemon: FakeDaemon | undefined;
let localDir: string;

beforeAll(async () => {
  localDir = await mkdtemp(path.join(tmpdir(), "paddock-sdk-streams-"));
});
afterAll(async () => {
  await rm(localDir, { recursive: true, force: true });
});
afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
});

async function connect(routes: Record<string, Handler>): Promise<Sandbox> {
  daemon = await fakeDaemon(routes);
  return Sandbox.connect(SANDBOX_ID, { url: daemon.url, token: "t" });
}

async function failure(promise: Promise<unknown>): Promise<PaddockError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "it should have failed").toBeDefined();
  // The point of all these tests: nothing but a PaddockError, with a stable code.
  expect(isPaddockError(err), String(err)).toBe(true);
  return err as PaddockError;
}

async function archive(entries: { name: string; content: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries)
    pack.entry({ name: e.name, size: Buffer.byteLength(e.content) }, e.content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe("a connection reset mid-stream", () => {
  it("exec: wait() and the output streams fail with AgentUnavailableError", async () => {
    const sandbox = await connect({ [`POST ${PROCESSES}`]: cutAfter([START, STDOUT]) });
    const proc = await sandbox.process.exec("echo", "hello");
    const err = await failure(proc.wait());
    expect(err).toBeInstanceOf(AgentUnavailableError);
    expect(err.code).toBe("agent_unavailable");
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/cut/);
    expect(err.cause).toBeDefined();
    // The output before the cut was delivered; the stream then fails with the same error.
    const chunks: Uint8Array[] = [];
    const streamErr = await failure(
      (async () => {
        for await (const chunk of proc.stdout) chunks.push(chunk);
      })(),
    );
    expect(streamErr).toBe(err);
    expect(Buffer.concat(chunks).toString()).toBe("hello\n");
  });

  it("exec: a cut before the start event fails exec itself", async () => {
    const sandbox = await connect({ [`POST ${PROCESSES}`]: cutAfter(['{"type":"sta']) });
    const err = await failure(sandbox.process.exec("true"));
    expect(err).toBeInstanceOf(AgentUnavailableError);
  });

  it("attach: the replayed stream cut mid-way is AgentUnavailableError", async () => {
    const sandbox = await connect({ [`GET ${PROCESSES}/web/events`]: cutAfter([START, STDOUT]) });
    const proc = await sandbox.process.attach("web");
    expect(proc.pid).toBe(42);
    expect(await failure(proc.wait())).toBeInstanceOf(AgentUnavailableError);
  });

  it("downloadFile to a path: AgentUnavailableError, and no file or temporary left", async () => {
    const sandbox = await connect({
      [`GET ${FILES}`]: cutAfter(["x".repeat(100_000)], { "x-paddock-size": "1000000" }),
    });
    const dir = path.join(localDir, "download-cut");
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    const err = await failure(sandbox.fs.downloadFile("/data/big", path.join(dir, "big")));
    expect(err).toBeInstanceOf(AgentUnavailableError);
    expect(err.message).toContain("/data/big");
    expect(await readdir(dir)).toEqual([]);
  });

  it("downloadFile into a Writable: AgentUnavailableError", async () => {
    const sandbox = await connect({ [`GET ${FILES}`]: cutAfter(["partial"]) });
    const sink = new Writable({ write: (_chunk, _enc, done) => done() });
    expect(await failure(sandbox.fs.downloadFile("/data/big", sink))).toBeInstanceOf(
      AgentUnavailableError,
    );
  });

  it("readFile: AgentUnavailableError", async () => {
    const sandbox = await connect({ [`GET ${FILES}`]: cutAfter(["partial"]) });
    expect(await failure(sandbox.fs.readFile("/etc/hosts"))).toBeInstanceOf(AgentUnavailableError);
  });

  it("downloadDirectory: AgentUnavailableError, not tar-stream's own error", async () => {
    const tarBytes = await archive([
      { name: "a.txt", content: "a" },
      { name: "b.txt", content: "b".repeat(50_000) },
    ]);
    const sandbox = await connect({
      [`GET ${FILES}/archive`]: cutAfter([tarBytes.subarray(0, 20_000)]),
    });
    const err = await failure(sandbox.fs.downloadDirectory("/app", path.join(localDir, "dir-cut")));
    expect(err).toBeInstanceOf(AgentUnavailableError);
    expect(err.message).toContain("/app");
  });

  it("image build: the daemon's stream cut is a NetworkError", async () => {
    daemon = await fakeDaemon({
      "POST /v1/images/debian/build": cutAfter([line({ type: "progress", message: "pulling" })]),
    });
    const progress: string[] = [];
    const err = await failure(
      new Images({ url: daemon.url, token: "t" }).build("debian", {
        onProgress: (m) => progress.push(m),
      }),
    );
    expect(err).toBeInstanceOf(NetworkError);
    expect(err.code).toBe("network_error");
    expect(progress).toEqual(["pulling"]);
  });

  it("a JSON answer cut mid-body is a NetworkError", async () => {
    daemon = await fakeDaemon({ "GET /v1/images": cutAfter(['{"images":[{"na']) });
    const err = await failure(new Images({ url: daemon.url, token: "t" }).list());
    expect(err).toBeInstanceOf(NetworkError);
  });
});

describe("a malformed stream", () => {
  it.each([
    ["a line that is not JSON", "not json\n"],
    ["an event of no known type", line({ type: "stdoot", data: "" })],
    ["an exit without its fields", line({ type: "exit" })],
  ])("exec: %s is InvalidResponseError", async (_what, bad) => {
    const sandbox = await connect({ [`POST ${PROCESSES}`]: answer([START, bad]) });
    const proc = await sandbox.process.exec("true");
    const err = await failure(proc.wait());
    expect(err).toBeInstanceOf(InvalidResponseError);
    expect(err.code).toBe("invalid_response");
  });

  it("exec: a stream that does not begin with start is InvalidResponseError", async () => {
    const sandbox = await connect({ [`POST ${PROCESSES}`]: answer([STDOUT]) });
    expect(await failure(sandbox.process.exec("true"))).toBeInstanceOf(InvalidResponseError);
  });

  it.each([
    ["a line that is not JSON", "{progress\n"],
    ["a line of no known type", line({ type: "almost-done" })],
    ["an error of an unknown code", line({ type: "error", error: { code: "x", message: "m" } })],
    ["a stream without a result", line({ type: "progress", message: "a" })],
  ])("image build: %s is InvalidResponseError", async (_what, bad) => {
    daemon = await fakeDaemon({ "POST /v1/images/debian/build": answer([bad]) });
    const err = await failure(new Images({ url: daemon.url, token: "t" }).build("debian"));
    expect(err).toBeInstanceOf(InvalidResponseError);
  });

  it("image build: a failed build event is its own class with its code's status", async () => {
    daemon = await fakeDaemon({
      "POST /v1/images/debian/build": answer([
        line({ type: "progress", message: "a" }),
        line({ type: "error", error: { code: "image_build_failed", message: "apt failed" } }),
      ]),
    });
    const err = await failure(new Images({ url: daemon.url, token: "t" }).build("debian"));
    expect(err).toBeInstanceOf(ImageBuildFailedError);
    expect(err).toMatchObject({ code: "image_build_failed", status: 500, message: "apt failed" });
  });

  it("downloadDirectory: bytes that are not a tar archive are InvalidResponseError", async () => {
    const sandbox = await connect({ [`GET ${FILES}/archive`]: answer(["x".repeat(1024)]) });
    const err = await failure(sandbox.fs.downloadDirectory("/app", path.join(localDir, "not-tar")));
    expect(err).toBeInstanceOf(InvalidResponseError);
  });

  it("downloadDirectory: an entry leading outside the directory is InvalidResponseError", async () => {
    const tarBytes = await archive([{ name: "../escaped.txt", content: "x" }]);
    const sandbox = await connect({ [`GET ${FILES}/archive`]: answer([tarBytes]) });
    const dest = path.join(localDir, "hostile");
    const err = await failure(sandbox.fs.downloadDirectory("/app", dest));
    expect(err).toBeInstanceOf(InvalidResponseError);
    expect(existsSync(path.join(localDir, "escaped.txt"))).toBe(false);
  });

  it("a success answer that is not JSON is InvalidResponseError", async () => {
    daemon = await fakeDaemon({ "GET /v1/images": answer(["<html>proxy</html>"]) });
    const err = await failure(new Images({ url: daemon.url, token: "t" }).list());
    expect(err).toBeInstanceOf(InvalidResponseError);
    expect(err.message).toMatch(/not JSON/);
  });

  it("docker output that is not JSON lines is InvalidResponseError", async () => {
    const sandbox = await connect({
      [`GET /v1/sandboxes/${SANDBOX_ID}/docker/ps`]: answer([
        JSON.stringify({ exitCode: 0, stdout: '{"ID":"a"}\nWARNING: not json\n', stderr: "" }),
      ]),
    });
    expect(await failure(sandbox.docker.ps())).toBeInstanceOf(InvalidResponseError);
  });
});

describe("a local side that fails", () => {
  it("an upload source that fails while it is sent is InvalidRequestError, not NetworkError", async () => {
    const sandbox = await connect({
      // Never answers: the client's own body fails first.
      [`PUT ${FILES}`]: (req) => req.resume(),
    });
    const source = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
        setTimeout(() => this.destroy(new Error("disk read failed")), 20);
      },
    });
    const err = await failure(sandbox.fs.uploadFile(source, "/data/x"));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toMatch(/disk read failed/);
  });

  it("a download whose local file cannot be written is a local error, not a cut", async () => {
    const sandbox = await connect({ [`GET ${FILES}`]: answer(["data"]) });
    // The destination is a directory: the rename onto it fails on the local side.
    const dest = path.join(localDir, "a-dir");
    await mkdir(dest, { recursive: true });
    const err = await failure(sandbox.fs.downloadFile("/data/x", dest));
    expect(err).not.toBeInstanceOf(AgentUnavailableError);
    expect(err.code).toBe("invalid_request");
    expect(err.details).toMatchObject({ localPath: dest });
    expect((await readdir(localDir)).filter((n) => n.startsWith(".paddock-"))).toEqual([]);
  });
});
