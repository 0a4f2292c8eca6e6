import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leftSince, snapshot } from "../helpers/audit.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import {
  LAYERS_CONFIG,
  corruptBlob,
  pushTestImages,
  saveDockerArchive,
  saveOciArchive,
  type TestImage,
  type TestImages,
} from "../helpers/test-images.js";

// The fixtures the image pull tests stand on: a loopback registry and the images pushed to it.

const AUTH = { user: "paddock", password: "s3cret-pw" };

function skopeo(...args: string[]): string {
  return execFileSync("skopeo", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** `skopeo inspect` of a test image (with its registry's credentials); `raw` gives the manifest. */
function inspect(image: TestImage, ...flags: string[]): Record<string, unknown> {
  const creds = image.auth ? ["--creds", `${image.auth.user}:${image.auth.password}`] : [];
  return JSON.parse(
    skopeo("inspect", "--tls-verify=false", ...creds, ...flags, `docker://${image.ref}`),
  ) as Record<string, unknown>;
}

/** What skopeo says when it cannot inspect `ref` with these flags. */
function inspectError(ref: string, ...flags: string[]): string {
  try {
    skopeo("inspect", "--tls-verify=false", ...flags, `docker://${ref}`);
  } catch (err) {
    return String((err as { stderr?: string }).stderr);
  }
  throw new Error(`skopeo inspect ${ref} succeeded`);
}

const before = snapshot();
let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "paddock-test-fixture-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("a registry without auth", () => {
  let registry: TestRegistry;
  let images: TestImages;
  beforeAll(async () => {
    let t = performance.now();
    registry = await startRegistry();
    const started = performance.now() - t;
    t = performance.now();
    images = await pushTestImages(registry);
    const pushedMs = performance.now() - t;
    process.stdout.write(
      `registry started in ${started.toFixed(0)} ms, test images built and pushed in ${pushedMs.toFixed(0)} ms\n`,
    );
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("answers on loopback and a second push call reuses the first", async () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await fetch(`${registry.url}/v2/`)).status).toBe(200);
    expect(await pushTestImages(registry)).toBe(images);
  });

  it("layers:1 has 3 layers, the pushed digest and the config", () => {
    const { layers } = images;
    expect(layers.ref).toBe(`${registry.host}/paddock-test/layers:1`);
    const info = inspect(layers);
    expect(info.Digest).toBe(layers.digest);
    expect((info.RepoTags as string[]).sort()).toEqual(["1", "2"]);
    expect(info.Layers).toHaveLength(3);
    const config = (inspect(layers, "--config") as { config: Record<string, unknown> }).config;
    expect(config).toMatchObject(LAYERS_CONFIG);
    expect(config.Env).toEqual(LAYERS_CONFIG.Env);
    // By digest too.
    expect(
      JSON.parse(skopeo("inspect", "--tls-verify=false", `docker://${layers.digestRef}`)),
    ).toMatchObject({ Digest: layers.digest });
  });

  it("layers:2 shares the base layer and has another top layer", () => {
    const one = inspect(images.layers).Layers as string[];
    const two = inspect(images.layers2).Layers as string[];
    expect(images.layers2.digest).not.toBe(images.layers.digest);
    expect(two).toHaveLength(2);
    expect(two[0]).toBe(one[0]);
    expect(one).not.toContain(two[1]);
    expect(inspect(images.layers2, "--config")).toMatchObject({ config: LAYERS_CONFIG });
  });

  it("multi:1 is an index of linux/amd64 and linux/arm64, arm-only:1 of linux/arm64 only", () => {
    const platforms = (image: TestImage) =>
      (inspect(image, "--raw") as { manifests: { platform: unknown }[] }).manifests.map(
        (m) => m.platform,
      );
    expect(platforms(images.multi)).toEqual([
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux" },
    ]);
    expect(platforms(images.armOnly)).toEqual([{ architecture: "arm64", os: "linux" }]);
    expect(inspect(images.multi).Digest).toBe(images.multi.digest);
    // Without --override-arch skopeo resolves the index to this machine's platform.
    expect(inspect(images.multi).Architecture).toBe("amd64");
    expect(inspectError(images.armOnly.ref)).toMatch(
      /no image found in (manifest list|image index) for architecture amd64/,
    );
  });

  it("an OCI layout export holds the whiteout and the hard link; /platform tells the arch", async () => {
    const dir = path.join(work, "layers-oci");
    await saveOciArchive(images.layers, dir, { layout: "dir" });
    const index = JSON.parse(await readFile(path.join(dir, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    const blob = (digest: string) => path.join(dir, "blobs/sha256", digest.slice("sha256:".length));
    const manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), "utf8")) as {
      layers: { digest: string }[];
    };
    const list = (digest: string) =>
      execFileSync("tar", ["-tvzf", blob(digest)], { encoding: "utf8" });
    const [base, second, third] = manifest.layers.map((l) => list(l.digest));
    expect(base).toMatch(/^h.* opt\/b link to opt\/a$/m);
    expect(base).toMatch(/ etc\/data\/gone$/m);
    expect(second).toMatch(/ etc\/data\/\.wh\.gone$/m);
    expect(second).toMatch(/ opt\/two$/m);
    expect(third).toMatch(/ opt\/three$/m);

    const multi = path.join(work, "multi.tar");
    await saveOciArchive(images.multi, multi, { all: true });
    const arm = path.join(work, "arm-oci");
    execFileSync("skopeo", [
      "copy",
      "--quiet",
      "--override-arch",
      "arm64",
      `oci-archive:${multi}:1`,
      `oci:${arm}:1`,
    ]);
    const bundle = path.join(work, "arm-bundle");
    execFileSync("umoci", ["unpack", "--image", `${arm}:1`, bundle]);
    expect(await readFile(path.join(bundle, "rootfs/platform"), "utf8")).toBe("arm64\n");
  });

  it("a docker save archive names the image", async () => {
    const file = path.join(work, "layers.docker.tar");
    await saveDockerArchive(images.layers, file);
    const manifest = JSON.parse(
      execFileSync("tar", ["-xOf", file, "manifest.json"], { encoding: "utf8" }),
    ) as { RepoTags: string[]; Layers: string[] }[];
    expect(manifest).toHaveLength(1);
    // skopeo writes the name fully qualified; `docker save` writes the short form.
    expect(manifest[0]!.RepoTags).toEqual(["docker.io/paddock-test/layers:1"]);
    expect(manifest[0]!.Layers).toHaveLength(3);
  });

  it("corruptBlob makes a copy fail with a digest mismatch; restore undoes it", async () => {
    const corrupted = await corruptBlob(registry, images.layers);
    expect((inspect(images.layers).Layers as string[]).at(-1)).toBe(corrupted.digest);
    const copy = () =>
      execFileSync(
        "skopeo",
        [
          "copy",
          "--quiet",
          "--src-tls-verify=false",
          `docker://${images.layers.ref}`,
          `oci:${path.join(work, "corrupt-copy")}:1`,
        ],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
      );
    expect(copy).toThrow(/digest/i);
    await corrupted.restore();
    expect(copy).not.toThrow();
  });
});

describe("a registry with htpasswd auth", () => {
  let registry: TestRegistry;
  let images: TestImages;
  beforeAll(async () => {
    registry = await startRegistry({ auth: AUTH });
    images = await pushTestImages(registry);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("refuses without credentials or with a wrong password, answers with the right ones", () => {
    expect(registry.auth).toEqual(AUTH);
    expect(images.layers.auth).toEqual(AUTH);
    expect(inspectError(images.layers.ref)).toMatch(/unauthorized|authentication required/i);
    expect(inspectError(images.layers.ref, "--creds", `${AUTH.user}:wrong`)).toMatch(
      /unauthorized|authentication required|invalid username\/password/i,
    );
    expect(inspect(images.layers).Digest).toBe(images.layers.digest);
    expect(inspect(images.multi, "--raw")).toHaveProperty("manifests");
  });
});

describe("stopping", () => {
  it("a stopped registry is gone: its port, its storage, its process", async () => {
    const registry = await startRegistry();
    await registry.stop();
    expect(existsSync(registry.storageDir)).toBe(false);
    await expect(fetch(`${registry.url}/v2/`)).rejects.toThrow();
  });

  it("the fixtures leave nothing behind", async () => {
    await rm(work, { recursive: true, force: true });
    expect(leftSince(before)).toEqual([]);
  });
});
