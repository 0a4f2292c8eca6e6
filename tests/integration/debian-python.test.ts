import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { BUILDER_VERSIONS } from "../../packages/daemon/src/images/builtin.js";
import { ImageStore } from "../../packages/daemon/src/images/image-store.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";
import { tinyWheel } from "../helpers/wheel.js";

// The built-in debian image has pip, venv and ca-certificates: a venv and an offline pip install
// from local wheels work in a sandbox, which has no network.

let daemon: TestDaemon;
let wheel: Buffer;
beforeAll(async () => {
  wheel = tinyWheel().bytes;
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

describe.each(RUNTIMES)("python in the debian image (%s)", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime, image: "debian", memoryMiB: 512 });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  const sh = async (script: string) => (await sandbox.process.run(script)).output();
  const ok = async (script: string) => {
    const res = await sh(script);
    expect(res.exitCode, `${script}\n${res.stdout}${res.stderr}`).toBe(0);
    return res.stdout;
  };

  it("python3 -m venv and pip install --no-index from a local wheel work offline", async () => {
    await sandbox.fs.uploadFile(wheel, "/tmp/wheels/paddock_hello-1.0-py3-none-any.whl");
    await ok("python3 -m venv /tmp/v");
    const installed = await ok(
      "/tmp/v/bin/pip install --no-index --find-links /tmp/wheels paddock-hello 2>&1",
    );
    expect(installed).toContain("Successfully installed paddock-hello-1.0");
    expect(
      await ok("/tmp/v/bin/python -c 'import paddock_hello; print(paddock_hello.GREETING)'"),
    ).toBe("hello from a wheel\n");
    // Nothing came from the network: the sandbox has none.
    const dial = await sh(
      "python3 -c 'import socket; socket.create_connection((\"10.255.255.1\", 80), timeout=3)'",
    );
    expect(dial.exitCode).not.toBe(0);
  });

  it("has pip for the system python and the CA certificates", async () => {
    expect(await ok("python3 -m pip --version")).toMatch(/^pip \d+/);
    const cas = await ok(
      "python3 -c 'import ssl; print(ssl.create_default_context().cert_store_stats()[\"x509_ca\"])'",
    );
    expect(Number(cas)).toBeGreaterThan(50);
  });
});

// The shared test image store holds a debian image built before pip was added: a built-in image
// records its builder's version and one made by an older builder is built again on next use.
describe("a built-in image made by an older builder", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "paddock-test-builder-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const meta = async () =>
    JSON.parse(await readFile(path.join(dir, "busybox/image.json"), "utf8")) as {
      createdAt: string;
      builderVersion?: number;
    };
  const older = BUILDER_VERSIONS.busybox - 1;
  /** Makes the stored busybox look as if an older builder made it. */
  const age = async () => {
    const old = { ...(await meta()), builderVersion: older };
    await writeFile(path.join(dir, "busybox/image.json"), JSON.stringify(old));
    return old.createdAt;
  };

  it("is built again on its next use, and its meta records the builder's version", async () => {
    const store = new ImageStore(dir);
    await store.require("busybox");
    expect((await meta()).builderVersion).toBe(BUILDER_VERSIONS.busybox);
    const before = await age();
    await store.require("busybox");
    const after = await meta();
    expect(after.builderVersion).toBe(BUILDER_VERSIONS.busybox);
    expect(after.createdAt).not.toBe(before);
  });

  it("is kept while a sandbox uses it", async () => {
    const store = new ImageStore(dir, () => ["sb_user"]);
    const before = await age();
    await store.require("busybox");
    expect(await meta()).toMatchObject({ createdAt: before, builderVersion: older });
  });
});
