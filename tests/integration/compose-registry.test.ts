import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageNotFoundError, Images, InvalidRequestError, Sandbox } from "paddock";
import { run } from "../../packages/daemon/src/exec.js";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers } from "../helpers/host.js";
import { RUNTIMES } from "../helpers/paths.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { pushTestImages, type TestImage, type TestImages } from "../helpers/test-images.js";

// A Docker sandbox has no network: the daemon pulls the registry images a compose file names
// (from a loopback registry, allowed over plain HTTP) and loads them into the sandbox's Docker.
let registry: TestRegistry;
let images: TestImages;
let daemon: TestDaemon;
/** When the daemon stored each image: a later pull would change it. */
const pulledAt = new Map<string, string>();

beforeAll(async () => {
  registry = await startRegistry();
  images = await pushTestImages(registry);
  // Docker under runc: only with the operator's opt-in and the admin token (daemon.client).
  daemon = await startDaemon(undefined, {
    PADDOCK_INSECURE_REGISTRIES: registry.host,
    PADDOCK_ALLOW_RUNC_DOCKER: "1",
  });
});
afterAll(async () => {
  // The images are stored in the shared test store: their references go with the registry.
  const store = new Images(daemon.client);
  for (const image of [images?.layers, images?.layers2, images?.multi]) {
    if (image) await store.remove(image.ref).catch(() => {});
  }
  await daemon?.stop();
  await registry?.stop();
});

/**
 * A service's shell command that then stays up, so that ps shows it running. `stayUp` services
 * stop with SIGKILL: a PID 1 that does not handle SIGTERM would hold `down` for 10 s (and one
 * that traps it and exits left its container stuck under gVisor).
 */
const stayUp = (first = "true") => JSON.stringify(`${first}; exec sleep 1000`);
const STOP = "    stop_signal: SIGKILL\n";

/** The test images' entrypoint is /bin/sh -c. */
const stack = (services: Record<string, string>) =>
  "services:\n" +
  Object.entries(services)
    .map(
      ([name, image]) =>
        `  ${name}:\n    image: ${image}\n    command: ["-c", ${stayUp()}]\n${STOP}`,
    )
    .join("");

/** Pushes `image` to the registry under another name (as a tag moves to a new image). */
const copyImage = (image: TestImage, to: string) =>
  run("skopeo", [
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    `docker://${image.ref}`,
    `docker://${to}`,
  ]);

const repoTags = async (sandbox: Sandbox) =>
  (await sandbox.docker.images()).map((i) => `${String(i.Repository)}:${String(i.Tag)}`);

describe.each(RUNTIMES)("compose with registry images on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({
      ...daemon.client,
      runtime,
      docker: true,
      memoryMiB: 2048,
      timeoutSeconds: 900,
    });
  });
  afterAll(async () => {
    const id = sandbox?.id;
    await sandbox?.terminate();
    if (id) expect(leftovers(daemon.dataDir, runtime, id)).toEqual([]);
  });

  it("a file with two registry images comes up with both services running; a second up loads nothing", async () => {
    await sandbox.fs.writeFile(
      "/app/compose.yml",
      stack({ one: images.layers.ref, two: images.layers2.ref, three: images.layers.ref }),
    );
    const t0 = performance.now();
    const up = await sandbox.docker.composeUp("/app/compose.yml", { projectName: "reg" });
    const upMs = performance.now() - t0;
    expect(up.loadedImages.sort()).toEqual([images.layers.ref, images.layers2.ref].sort());
    const ps = await up.ps();
    expect(ps.map((c) => [c.Service, c.State]).sort()).toEqual([
      ["one", "running"],
      ["three", "running"],
      ["two", "running"],
    ]);
    // Docker knows each image under the exact name the file writes.
    expect(await repoTags(sandbox)).toEqual(
      expect.arrayContaining([images.layers.ref, images.layers2.ref]),
    );
    // Pulled once into the daemon's store (the second runtime's sandbox loads from it).
    const store = new Images(daemon.client);
    for (const image of [images.layers, images.layers2]) {
      const info = await store.get(image.ref);
      expect(info.digest).toBe(image.digest);
      if (!pulledAt.has(image.ref)) pulledAt.set(image.ref, info.createdAt!);
      expect(info.createdAt).toBe(pulledAt.get(image.ref));
    }

    const t1 = performance.now();
    const again = await sandbox.docker.composeUp("/app/compose.yml", { projectName: "reg" });
    const againMs = performance.now() - t1;
    expect(again.loadedImages).toEqual([]);
    expect((await again.ps()).every((c) => c.State === "running")).toBe(true);
    console.log(
      `${runtime}: first up with 2 images loaded ${upMs.toFixed(0)} ms, second up ${againMs.toFixed(0)} ms`,
    );
    await again.down();
    expect(await sandbox.docker.ps()).toEqual([]);
  });

  it("a file naming an image that cannot be pulled fails with its name before any container starts", async () => {
    const missing = `${registry.host}/paddock-test/missing:1`;
    await sandbox.fs.writeFile(
      "/bad/compose.yml",
      stack({ fine: images.layers.ref, broken: missing }),
    );
    const err = await sandbox.docker
      .composeUp("/bad/compose.yml", { projectName: "bad" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageNotFoundError);
    expect((err as Error).message).toContain(`image "${missing}" of service "broken"`);
    expect(await sandbox.docker.ps()).toEqual([]);
    expect(await repoTags(sandbox)).not.toContain(missing);
  });

  it("a file naming an image by digest is refused before anything runs", async () => {
    await sandbox.fs.writeFile("/pinned/compose.yml", stack({ pinned: images.layers2.digestRef }));
    const err = await sandbox.docker
      .composeUp("/pinned/compose.yml", { projectName: "pinned" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toMatch(/pinned by digest.*NAME:TAG/);
    expect(await sandbox.docker.ps()).toEqual([]);
  });

  it("a build section comes up offline: its Dockerfile's FROM images (ARGs substituted) are pulled by the daemon, its RUN step runs", async () => {
    // Multi-stage: the build stage's RUN writes a file the final stage copies; the FROM images
    // come from ARGs, TAG set by the compose file; `multi` is an index (amd64 is built from).
    await sandbox.fs.writeFile(
      "/build/app/Dockerfile",
      [
        `ARG REGISTRY=${registry.host}`,
        "ARG TAG=not-this-one",
        "FROM ${REGISTRY}/paddock-test/multi:${TAG} AS build",
        'RUN echo "ran $((6 * 7)) on $(cat /platform)" > /tmp/built',
        "FROM ${REGISTRY}/paddock-test/multi:${TAG}",
        "COPY --from=build /tmp/built /opt/built",
        'ENTRYPOINT ["/bin/sh", "-c"]',
        `CMD [${stayUp("cat /opt/built")}]`,
      ].join("\n"),
    );
    await sandbox.fs.writeFile(
      "/build/compose.yml",
      stack({ web: images.layers2.ref }) +
        '  app:\n    build:\n      context: ./app\n      args: { TAG: "1" }\n' +
        STOP,
    );
    const t0 = performance.now();
    const up = await sandbox.docker.composeUp("/build/compose.yml", { projectName: "build" });
    const upMs = performance.now() - t0;
    expect(up.loadedImages).toContain(images.multi.ref);
    const ps = await up.ps();
    expect(ps.map((c) => [c.Service, c.State]).sort()).toEqual([
      ["app", "running"],
      ["web", "running"],
    ]);
    await expect.poll(() => up.logs("app"), { timeout: 10_000 }).toContain("ran 42 on amd64");
    console.log(`${runtime}: up with a build (1 FROM image loaded) ${upMs.toFixed(0)} ms`);
    await up.down();
  });

  it("a build whose FROM image cannot be pulled fails with its name and where it is, before anything starts", async () => {
    const missing = `${registry.host}/paddock-test/missing:3`;
    await sandbox.fs.writeFile("/badbuild/app/Dockerfile", `FROM ${missing}\nRUN true\n`);
    await sandbox.fs.writeFile(
      "/badbuild/compose.yml",
      stack({ fine: images.layers.ref }) + "  app:\n    build: ./app\n",
    );
    const err = await sandbox.docker
      .composeUp("/badbuild/compose.yml", { projectName: "badbuild" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageNotFoundError);
    expect((err as Error).message).toContain(
      `image "${missing}" of service "app"'s Dockerfile (FROM, line 1) cannot be pulled`,
    );
    expect(await sandbox.docker.ps()).toEqual([]);
  });

  it("pull_policy: always pulls the tag again on every up, and loads it though Docker has it", async () => {
    const always = `${registry.host}/paddock-test/always-${runtime}:1`;
    const file =
      "services:\n  job:\n" +
      `    image: ${always}\n    pull_policy: always\n` +
      `    command: ["-c", ${stayUp("cat /opt/version 2>/dev/null || echo none")}]\n` +
      STOP;
    await sandbox.fs.writeFile("/always/compose.yml", file);
    const upWith = async (image: TestImage, expected: string) => {
      await copyImage(image, always);
      const up = await sandbox.docker.composeUp("/always/compose.yml", { projectName: "always" });
      expect(up.loadedImages).toEqual([always]);
      await expect.poll(() => up.logs("job"), { timeout: 10_000 }).toContain(expected);
      await up.down();
    };
    try {
      await upWith(images.layers, "none");
      // The same tag, other content: Docker has the tag, compose must not pull (no network).
      await upWith(images.layers2, "2");
    } finally {
      await new Images(daemon.client).remove(always).catch(() => {});
    }
  });

  it("docker.load({ ref }) loads a registry image (an index: the amd64 one) that docker then runs", async () => {
    const loaded = await sandbox.docker.load({ ref: images.multi.ref });
    expect(loaded.image).toBe(images.multi.ref);
    expect(loaded.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(loaded.output).toContain(`Loaded image: ${images.multi.ref}`);
    expect(await repoTags(sandbox)).toContain(images.multi.ref);
    const ran = await sandbox.docker.run(images.multi.ref, ["cat", "/platform"]);
    expect(ran).toMatchObject({ exitCode: 0, stdout: "amd64\n" });
  });

  it("docker.load({ ref }) of a missing image names it; one without a tag is refused", async () => {
    const missing = `${registry.host}/paddock-test/missing:2`;
    const err = await sandbox.docker.load({ ref: missing }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageNotFoundError);
    expect((err as Error).message).toContain(`image "${missing}" cannot be pulled`);
    const res = await daemon.api(
      "POST",
      `/v1/sandboxes/${sandbox.id}/docker/load?ref=${encodeURIComponent(images.layers.digestRef)}`,
    );
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/names no tag/);
  });

  it("paddock docker load ID --ref", async () => {
    const res = await paddock(daemon, ["docker", "load", sandbox.id, "--ref", images.layers2.ref]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^${images.layers2.ref.replace(/\./g, "\\.")} sha256:`));
    const usage = await paddock(daemon, ["docker", "load", sandbox.id]);
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toMatch(/ARCHIVE or --ref/);
  });
});
