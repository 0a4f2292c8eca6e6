import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ImageCorruptError,
  ImageNotFoundError,
  ImagePlatformUnavailableError,
  Images,
  RegistryAuthFailedError,
  RegistryUnreachableError,
  Registries,
  Sandbox,
  type PullProgress,
} from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import {
  LAYERS_CONFIG,
  LAYERS_FILES,
  corruptBlob,
  pushTestImages,
  type TestImages,
} from "../helpers/test-images.js";
import { refused } from "../helpers/refused.js";

// Pulls from loopback registries (plain HTTP, allowed by --insecure-registry) into a private
// image store: these tests remove images, which must not touch the shared one.
const AUTH = { user: "paddock", password: "pull-s3cret" };
let registry: TestRegistry;
let authRegistry: TestRegistry;
let plainRegistry: TestRegistry;
let images: TestImages;
let authImages: TestImages;
let plainImages: TestImages;
let imagesDir: string;
let daemon: TestDaemon;

beforeAll(async () => {
  [registry, authRegistry, plainRegistry] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: AUTH }),
    startRegistry(),
  ]);
  images = await pushTestImages(registry);
  authImages = await pushTestImages(authRegistry);
  plainImages = await pushTestImages(plainRegistry);
  imagesDir = await mkdtemp(path.join(tmpdir(), "paddock-images-pull-"));
  daemon = await startDaemon(
    undefined,
    // plainRegistry is left out: it stands for a plain HTTP registry nobody allowed.
    { PADDOCK_INSECURE_REGISTRIES: `${registry.host}, ${authRegistry.host}` },
    imagesDir,
  );
});
afterAll(async () => {
  await daemon?.stop();
  await Promise.all([registry?.stop(), authRegistry?.stop(), plainRegistry?.stop()]);
  if (imagesDir) await rm(imagesDir, { recursive: true, force: true });
});

const pulledDir = (digest: string) =>
  path.join(imagesDir, ".pulled", digest.slice("sha256:".length));

async function pull(ref: string, platform?: string) {
  const events: PullProgress[] = [];
  const t0 = performance.now();
  const info = await new Images(daemon.client).pull(ref, {
    platform,
    onProgress: (p) => events.push(p),
  });
  return { info, events, ms: performance.now() - t0 };
}

async function sh(sandbox: Sandbox, script: string, options: { user?: string; cwd?: string } = {}) {
  const out = await (await sandbox.process.exec(["/bin/sh", "-c", script], options)).output();
  return out.stdout;
}

describe("pulling", () => {
  it("pulls by tag with progress; image ls shows reference, digest, size, time, platform, config", async () => {
    const { info, events } = await pull(images.layers.ref);
    expect(info).toMatchObject({
      name: images.layers.ref,
      source: "pulled",
      ready: true,
      references: [images.layers.ref],
      digest: images.layers.digest,
      platform: "linux/amd64",
      config: {
        env: LAYERS_CONFIG.Env,
        workingDir: LAYERS_CONFIG.WorkingDir,
        user: LAYERS_CONFIG.User,
        entrypoint: LAYERS_CONFIG.Entrypoint,
        cmd: LAYERS_CONFIG.Cmd,
      },
    });
    expect(info.sizeBytes).toBeGreaterThan(500_000);
    expect(Date.now() - Date.parse(info.createdAt!)).toBeLessThan(60_000);
    expect(events[0]?.message).toMatch(/resolving/);
    expect(events.some((e) => /downloading 3 of 3 layers/.test(e.message))).toBe(true);
    const last = events.filter((e) => e.totalBytes !== undefined).at(-1)!;
    expect(last.completedBytes).toBe(last.totalBytes);
    const listed = (await new Images(daemon.client).list()).find(
      (i) => i.digest === images.layers.digest,
    );
    expect(listed).toMatchObject({ references: [images.layers.ref], source: "pulled" });
    // The whiteout and the hard link, as unpacked.
    const rootfs = path.join(pulledDir(images.layers.digest), "rootfs");
    expect(existsSync(path.join(rootfs, "etc/data/gone"))).toBe(false);
    expect(await readFile(path.join(rootfs, "etc/data/keep"), "utf8")).toBe(
      LAYERS_FILES["/etc/data/keep"],
    );
    const [a, b] = await Promise.all(["opt/a", "opt/b"].map((f) => stat(path.join(rootfs, f))));
    expect(a!.ino).toBe(b!.ino);
    expect(a!.nlink).toBe(2);
  });

  it("pulls a stored digest again without the network in well under 100 ms, and a tag without download", async () => {
    const blobs = path.join(imagesDir, ".oci/blobs/sha256");
    const before = (await readdir(blobs)).sort();
    const again = await pull(images.layers.digestRef);
    expect(again.info.digest).toBe(images.layers.digest);
    expect(again.ms).toBeLessThan(100);
    expect(again.events).toEqual([]);
    const tag = await pull(images.layers.ref);
    expect(tag.events.map((e) => e.message)).not.toContainEqual(expect.stringMatching(/download/));
    expect((await readdir(blobs)).sort()).toEqual(before);
  });

  it("a second tag sharing the base layer downloads only its new layer", async () => {
    const { info, events } = await pull(images.layers2.ref);
    expect(info.digest).toBe(images.layers2.digest);
    expect(events.some((e) => /downloading 1 of 2 layers/.test(e.message))).toBe(true);
  });

  it("a corrupt layer is image_corrupt and leaves nothing stored; the next pull works", async () => {
    const damage = await corruptBlob(registry, images.multi);
    try {
      const err = await refused(() => pull(images.multi.ref));
      expect(err).toBeInstanceOf(ImageCorruptError);
      expect(err.message).toMatch(/does not match its digest/);
      expect((await readdir(imagesDir)).filter((n) => n.startsWith(".pull-"))).toEqual([]);
      expect(await readdir(path.join(imagesDir, ".oci/blobs/sha256"))).not.toContain(
        damage.digest.slice("sha256:".length),
      );
    } finally {
      await damage.restore();
    }
  });

  it("a multi-platform index gives linux/amd64, or the platform asked", async () => {
    const amd = await pull(images.multi.ref);
    expect(amd.info.platform).toBe("linux/amd64");
    expect(amd.info.digest).not.toBe(images.multi.digest);
    const rootfs = path.join(pulledDir(amd.info.digest!), "rootfs");
    expect((await readFile(path.join(rootfs, "platform"), "utf8")).trim()).toBe("amd64");
    const arm = await pull(images.multi.ref, "linux/arm64");
    expect(arm.info.platform).toBe("linux/arm64");
    expect(arm.info.digest).not.toBe(amd.info.digest);
  });

  it("an image with no linux/amd64 is image_platform_unavailable, naming the platforms it has", async () => {
    const err = await refused(() => pull(images.armOnly.ref));
    expect(err).toBeInstanceOf(ImagePlatformUnavailableError);
    expect(err.message).toMatch(/no image for linux\/amd64; it has: linux\/arm64/);
  });

  it("registry errors have their codes and say what to do", async () => {
    const unknown = await refused(() => pull(`${registry.host}/paddock-test/nope:1`));
    expect(unknown).toBeInstanceOf(ImageNotFoundError);
    expect(unknown.message).toMatch(/has no image .*check the repository name and tag/);

    const down = await refused(() => pull("127.0.0.1:9/paddock-test/layers:1"));
    expect(down).toBeInstanceOf(RegistryUnreachableError);

    const plain = await refused(() => pull(`${plainRegistry.host}/paddock-test/layers:1`));
    expect(plain).toBeInstanceOf(RegistryUnreachableError);
    expect(plain.message).toContain(`--insecure-registry ${plainRegistry.host}`);

    const bad = await refused(() => pull("Not A Reference"));
    expect(bad.code).toBe("invalid_request");
  });

  it("a bare name never pulled is image_not_found at create, with the pull command to run", async () => {
    const err = await refused(() =>
      Sandbox.create({ ...daemon.client, image: "no-such-thing", runtime: "runc" }),
    );
    expect(err).toBeInstanceOf(ImageNotFoundError);
    expect(err.message).toMatch(/paddock image pull no-such-thing/);
  });

  it("credentials: refused without, a wrong password is refused, stored root-only and never returned", async () => {
    const ref = authImages.layers2.ref;
    const registries = new Registries(daemon.client);
    expect(await refused(() => pull(ref))).toBeInstanceOf(RegistryAuthFailedError);
    const wrong = await refused(() =>
      registries.login(authRegistry.host, { username: AUTH.user, password: "wrong" }),
    );
    expect(wrong).toBeInstanceOf(RegistryAuthFailedError);
    // Only the admin stores credentials: an API key is refused.
    const created = await daemon.api("POST", "/v1/keys", { name: "pull-test" });
    const { key } = (await created.json()) as { key: string };
    const asKey = await daemon.api(
      "POST",
      "/v1/registries/login",
      { host: authRegistry.host, username: AUTH.user, password: AUTH.password },
      { authorization: `Bearer ${key}` },
    );
    expect(asKey.status).toBe(403);
    await registries.login(authRegistry.host, { username: AUTH.user, password: AUTH.password });
    const res = await daemon.api("GET", "/v1/registries");
    const text = await res.text();
    expect(text).not.toContain(AUTH.password);
    expect(JSON.parse(text)).toEqual({
      registries: expect.arrayContaining([
        { host: authRegistry.host, loggedIn: true, insecure: true },
      ]) as unknown,
    });
    const file = path.join(daemon.dataDir, "registries/auth.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect((await pull(ref)).info.digest).toBe(authImages.layers2.digest);
  });

  it("a pull cut by a daemon crash leaves no half image; the restarted daemon pulls it whole", async () => {
    const ref = plainImages.layers.ref;
    const restarted = await startDaemon(
      undefined,
      { PADDOCK_INSECURE_REGISTRIES: plainRegistry.host },
      imagesDir,
    );
    try {
      const images2 = new Images(restarted.client);
      const started = new Promise<void>((resolve) => {
        void images2.pull(ref, { onProgress: () => resolve() }).catch(() => {});
      });
      await started;
      await new Promise((r) => setTimeout(r, 150));
      await restarted.kill9();
      // A removal cut after its rename aside, as a crash would leave it.
      await mkdir(path.join(imagesDir, ".removing-cut", "rootfs"), { recursive: true });
      const again = await restarted.restart();
      try {
        // Pulls of a dead daemon and unfinished removals are removed at start.
        expect((await readdir(imagesDir)).filter((n) => /^\.(pull|removing)-/.test(n))).toEqual([]);
        const info = await new Images(again.client).pull(ref);
        expect(info.digest).toBe(plainImages.layers.digest);
        expect(existsSync(path.join(pulledDir(info.digest!), "rootfs/etc/data/keep"))).toBe(true);
      } finally {
        await again.stop();
      }
    } finally {
      await restarted.stop().catch(() => {});
    }
  });
});

describe.each(RUNTIMES)("sandboxes from pulled images (%s)", (runtime) => {
  it("pulls on first use; the image's Env, WorkingDir and User are the defaults; whiteout and hard link hold", async () => {
    const ref = images.layers.ref;
    await new Images(daemon.client).remove(ref).catch(() => {});
    const sandbox = await Sandbox.create({
      ...daemon.client,
      image: ref,
      runtime,
      env: { FOO: "from-create" },
    });
    try {
      const info = await sandbox.info();
      expect(info.image).toBe(`${ref}@${images.layers.digest}`);
      const env = await sh(sandbox, "env");
      expect(env).toContain("FOO=from-create\n");
      expect(env).toContain(`PATH=/opt/bin:/usr/sbin:/usr/bin:/sbin:/bin\n`);
      expect(await sh(sandbox, "pwd; id -u")).toBe("/work\n1000\n");
      expect(await sh(sandbox, "pwd; id -u", { user: "root", cwd: "/" })).toBe("/\n0\n");
      expect(
        await sh(
          sandbox,
          "test -e /etc/data/gone || echo gone; cat /etc/data/keep; stat -c %i /opt/a /opt/b | uniq | wc -l",
        ),
      ).toBe("gone\nkeep\n1\n");

      // Removed while in use: the reference goes now, the files when the sandbox ends.
      await new Images(daemon.client).remove(ref);
      const listed = await new Images(daemon.client).list();
      expect(listed.flatMap((i) => i.references ?? [])).not.toContain(ref);
      expect(await sh(sandbox, "cat /opt/three; ls /bin/sh")).toBe("three\n/bin/sh\n");
      expect(existsSync(pulledDir(images.layers.digest))).toBe(true);
    } finally {
      await sandbox.terminate();
    }
    for (let i = 0; i < 50 && existsSync(pulledDir(images.layers.digest)); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(pulledDir(images.layers.digest))).toBe(false);
  });
});
