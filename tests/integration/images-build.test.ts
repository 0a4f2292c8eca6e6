import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ForbiddenError,
  ImageBuildFailedError,
  ImageNotFoundError,
  Images,
  InvalidRequestError,
  Keys,
  Sandbox,
} from "paddock";
import { runningBuilders, writeContext } from "../helpers/build-contexts.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { startFakeInternet, type FakeInternet } from "../helpers/net.js";
import { RUNTIMES } from "../helpers/paths.js";
import { refused } from "../helpers/refused.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { pushTestImages, type TestImages } from "../helpers/test-images.js";

// Dockerfile builds run in a throwaway Docker sandbox; their FROM images come from a loopback
// registry through the daemon (the builder has no network).
let registry: TestRegistry;
let images: TestImages;
let daemon: TestDaemon;
let work: string;
/** Builds that ask for the network reach only this machine's fake internet. */
let internet: FakeInternet;
const built = [...RUNTIMES.map((r) => `built-${r}:1`), "no-network", "with-network"];

beforeAll(async () => {
  registry = await startRegistry();
  images = await pushTestImages(registry);
  work = await mkdtemp(path.join(tmpdir(), "paddock-build-contexts-"));
  // Docker under runc: only with the operator's opt-in and the admin token (daemon.client).
  internet = await startFakeInternet();
  daemon = await startDaemon(undefined, {
    ...internet.daemonEnv,
    PADDOCK_INSECURE_REGISTRIES: registry.host,
    PADDOCK_ALLOW_RUNC_DOCKER: "1",
  });
}, 600_000);
afterAll(async () => {
  // Built images are stored in the shared test store: they go with the test.
  const store = new Images(daemon.client);
  for (const name of built) await store.remove(name).catch(() => {});
  for (const image of [images?.layers]) if (image) await store.remove(image.ref).catch(() => {});
  await daemon?.stop();
  await registry?.stop();
  await internet?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const context = (name: string, files: Record<string, string>) => writeContext(work, name, files);
const builders = () => runningBuilders(daemon.client);

const MULTI_STAGE = `
# The base comes from a build arg: the daemon must substitute it to know what to pull.
ARG BASE
FROM \${BASE} AS build
USER root
ARG MSG=unset
WORKDIR /src
COPY hello.txt .
RUN echo "$MSG" > msg.txt && cat hello.txt >> msg.txt
FROM \${BASE}
COPY --from=build /src/msg.txt /app/msg.txt
ENV GREETING=hi
WORKDIR /app
USER 1234:1234
CMD ["cat", "/app/msg.txt"]
`;

describe.each(RUNTIMES)("Dockerfile builds on %s", (runtime) => {
  it("build a multi-stage Dockerfile from registry images into an image that runs with its config", async () => {
    const dir = await context(`multi-${runtime}`, {
      "build/Dockerfile": MULTI_STAGE,
      "hello.txt": "hello from the context\n",
    });
    const log: string[] = [];
    const progress: string[] = [];
    const name = `built-${runtime}:1`;
    const image = await new Images(daemon.client).build({
      name,
      context: dir,
      dockerfile: "build/Dockerfile",
      buildArgs: { BASE: images.layers.ref, MSG: "built by paddock" },
      runtime,
      onLog: (text) => log.push(text),
      onProgress: (message) => progress.push(message),
    });
    expect(progress.join("\n")).toContain(`pulling ${images.layers.ref}`);
    expect(log.join("")).toMatch(/Step \d+\/\d+ : RUN echo "\$MSG"/);
    expect(log.join("")).toContain("Successfully built");
    expect(image.references).toEqual([`docker.io/library/${name}`]);
    expect(image.config).toMatchObject({
      workingDir: "/app",
      user: "1234:1234",
      cmd: ["cat", "/app/msg.txt"],
    });
    expect(image.config?.env).toContain("GREETING=hi");
    expect(await builders()).toEqual([]);

    const sandbox = await Sandbox.create({ ...daemon.client, runtime, image: name });
    try {
      const r = await (
        await sandbox.process.run(
          'id -u; pwd; cat msg.txt; echo "$GREETING"; test -e /etc/data/gone || echo whiteout kept',
        )
      ).output();
      expect(r.stdout).toBe(
        "1234\n/app\nbuilt by paddock\nhello from the context\nhi\nwhiteout kept\n",
      );
    } finally {
      await sandbox.terminate();
    }
  });
});

describe("Dockerfile builds that cannot succeed", () => {
  const store = () => new Images(daemon.client);

  it("name a FROM image that cannot be pulled, before any builder is made", async () => {
    const missing = `${registry.host}/paddock-test/nothing:1`;
    const dir = await context("missing-from", {
      Dockerfile: `FROM ${images.layers.ref} AS one\nRUN true\n\nFROM ${missing}\n`,
    });
    const progress: string[] = [];
    const err = await refused(() =>
      store().build({ name: "never-built", context: dir, onProgress: (m) => progress.push(m) }),
    );
    expect(err).toBeInstanceOf(ImageNotFoundError);
    expect(err.message).toContain(`image "${missing}" (Dockerfile line 4) cannot be pulled`);
    expect(progress.some((m) => m.includes("builder"))).toBe(false);
    expect(await builders()).toEqual([]);
    await expect(store().get("never-built")).rejects.toBeInstanceOf(ImageNotFoundError);
  });

  it("fail at a RUN step with the build's log, leaving no image and no builder", async () => {
    const dir = await context("failing-run", {
      Dockerfile: `FROM ${images.layers.ref}\nRUN echo about to fail && exit 3\n`,
    });
    const log: string[] = [];
    const err = await refused(() =>
      store().build({ name: "failed-build", context: dir, onLog: (t) => log.push(t) }),
    );
    expect(err).toBeInstanceOf(ImageBuildFailedError);
    expect(err.message).toMatch(/returned a non-zero code: 3/);
    expect(log.join("")).toContain("about to fail");
    expect(await builders()).toEqual([]);
    await expect(store().get("failed-build")).rejects.toBeInstanceOf(ImageNotFoundError);
  });

  it("have no network in RUN steps", async () => {
    const dir = await context("no-network", {
      Dockerfile: `FROM ${images.layers.ref}\nUSER root\nRUN cat /proc/net/dev > /netdevs\n`,
    });
    await store().build({ name: "no-network", context: dir });
    const sandbox = await Sandbox.create({ ...daemon.client, image: "no-network" });
    try {
      const devices = (await (await sandbox.process.exec("cat", "/netdevs")).output()).stdout;
      // Only loopback: `--network=none`.
      expect(devices).toMatch(/\blo:/);
      expect(devices).not.toMatch(/\beth0:/);
    } finally {
      await sandbox.terminate();
    }
  });

  it("reach the network in RUN steps only when asked", async () => {
    const url = `http://allowed.test/host.txt`;
    const dir = await context("with-network", {
      Dockerfile: `FROM ${images.layers.ref}\nUSER root\nRUN wget -q -O /fetched ${url}\n`,
    });
    const log: string[] = [];
    const offline = await refused(() =>
      store().build({ name: "with-network", context: dir, onLog: (t) => log.push(t) }),
    );
    expect(offline).toBeInstanceOf(ImageBuildFailedError);
    expect(log.join("")).toMatch(/bad address 'allowed.test'|Network is unreachable/);
    await store().build({ name: "with-network", context: dir, network: "all" });
    const sandbox = await Sandbox.create({ ...daemon.client, image: "with-network" });
    try {
      const fetched = (await (await sandbox.process.exec("cat", "/fetched")).output()).stdout;
      expect(fetched).toBe("allowed\n");
    } finally {
      await sandbox.terminate();
    }
  });

  it("refuse bad requests with what to do", async () => {
    const dir = await context("no-dockerfile", { "README.md": "no Dockerfile here\n" });
    const missing = await refused(() => store().build({ name: "x", context: dir }));
    expect(missing).toBeInstanceOf(InvalidRequestError);
    expect(missing.message).toMatch(/no Dockerfile at "Dockerfile"/);
    const target = await context("bad-target", { Dockerfile: `FROM ${images.layers.ref}\n` });
    const noStage = await refused(() =>
      store().build({ name: "x", context: target, target: "nope" }),
    );
    expect(noStage.message).toMatch(/no stage named "nope"/);
    const builtin = await refused(() => store().build({ name: "debian", context: target }));
    expect(builtin.message).toMatch(/built-in image/);
    // Builds name images for everyone: the admin's to make.
    const { key } = await new Keys(daemon.client).create("builder-tenant");
    const asKey = new Images({ url: daemon.url, token: key });
    await expect(asKey.build({ name: "x", context: target })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    expect(await builders()).toEqual([]);
  });

  it("stop when their client goes away", async () => {
    const dir = await context("cancelled", {
      Dockerfile: `FROM ${images.layers.ref}\nRUN sleep 120\n`,
    });
    const controller = new AbortController();
    const job = store().build({
      name: "cancelled",
      context: dir,
      signal: controller.signal,
      onProgress: (m) => {
        if (m === "building") setTimeout(() => controller.abort(), 500);
      },
    });
    await expect(job).rejects.toThrow();
    const deadline = Date.now() + 30_000;
    while ((await builders()).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect(await builders()).toEqual([]);
    await expect(store().get("cancelled")).rejects.toBeInstanceOf(ImageNotFoundError);
  });
});
