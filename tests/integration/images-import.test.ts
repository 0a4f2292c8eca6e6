import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import {
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ImageExistsError,
  ImagePlatformUnavailableError,
  Images,
  InvalidRequestError,
  Sandbox,
} from "paddock";
import { readTarIndex, resolveMember } from "../../packages/daemon/src/images/tar-index.js";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import {
  LAYERS_CONFIG,
  pushTestImages,
  saveDockerArchive,
  saveOciArchive,
  type TestImages,
} from "../helpers/test-images.js";
import { refused } from "../helpers/refused.js";

// Archives are made from the test images of a loopback registry (docker-archive and OCI layouts
// written by skopeo), then imported into a private image store: these tests look at its files.
let registry: TestRegistry;
let images: TestImages;
let imagesDir: string;
let work: string;
let daemon: TestDaemon;
const files = {
  docker: "",
  ociDir: "",
  ociTar: "",
  multi: "",
  armOnly: "",
};

beforeAll(async () => {
  registry = await startRegistry();
  images = await pushTestImages(registry);
  imagesDir = await mkdtemp(path.join(tmpdir(), "paddock-images-import-"));
  work = await mkdtemp(path.join(tmpdir(), "paddock-import-archives-"));
  files.docker = path.join(work, "layers.docker.tar");
  files.ociDir = path.join(work, "layers2-oci");
  files.ociTar = path.join(work, "layers.oci.tar");
  files.multi = path.join(work, "multi.oci.tar");
  files.armOnly = path.join(work, "arm-only.oci.tar");
  await saveDockerArchive(images.layers, files.docker);
  await saveOciArchive(images.layers2, files.ociDir, { layout: "dir" });
  await saveOciArchive(images.layers, files.ociTar);
  await saveOciArchive(images.multi, files.multi, { all: true });
  await saveOciArchive(images.armOnly, files.armOnly, { all: true });
  daemon = await startDaemon(undefined, {}, imagesDir);
});
afterAll(async () => {
  await daemon?.stop();
  await registry?.stop();
  for (const dir of [imagesDir, work]) if (dir) await rm(dir, { recursive: true, force: true });
});

const upload = (file: string) =>
  Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>;
const importFile = (name: string, file: string) =>
  new Images(daemon.client).import(name, upload(file));
const pulledDir = (digest: string) =>
  path.join(imagesDir, ".pulled", digest.slice("sha256:".length));
const blobs = async () => (await readdir(path.join(imagesDir, ".oci/blobs/sha256"))).sort();
const workDirs = async () => (await readdir(imagesDir)).filter((n) => /^\.(pull|tmp)-/.test(n));

const CONFIG = {
  env: LAYERS_CONFIG.Env,
  workingDir: LAYERS_CONFIG.WorkingDir,
  user: LAYERS_CONFIG.User,
  entrypoint: LAYERS_CONFIG.Entrypoint,
  cmd: LAYERS_CONFIG.Cmd,
};

describe("importing archives", () => {
  it("a docker save archive is stored by digest under the name given, with its config; again stores nothing new", async () => {
    const info = await importFile("imp-docker:1", files.docker);
    expect(info).toMatchObject({
      name: "docker.io/library/imp-docker:1",
      source: "imported",
      ready: true,
      references: ["docker.io/library/imp-docker:1"],
      platform: "linux/amd64",
      config: CONFIG,
    });
    expect(info.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    // The whiteout of layer 2 is applied.
    const rootfs = path.join(pulledDir(info.digest!), "rootfs");
    expect(await readdir(path.join(rootfs, "etc/data"))).toEqual(["keep"]);
    const before = await blobs();
    const again = await importFile("imp-docker:again", files.docker);
    expect(again.digest).toBe(info.digest);
    expect(again.references).toEqual([
      "docker.io/library/imp-docker:1",
      "docker.io/library/imp-docker:again",
    ]);
    expect(await blobs()).toEqual(before);
    expect(await workDirs()).toEqual([]);
  });

  it("an OCI layout directory (through the CLI, as a tar) keeps the registry's digest", async () => {
    const res = await paddock(daemon, ["image", "import", "imp-oci-dir:2", files.ociDir, "--json"]);
    expect(res.code).toBe(0);
    const info = JSON.parse(res.stdout) as { digest: string; source: string; config: unknown };
    expect(info).toMatchObject({ digest: images.layers2.digest, source: "imported" });
    expect(info.config).toEqual(CONFIG);
    expect(await readFile(path.join(pulledDir(info.digest), "rootfs/opt/version"), "utf8")).toBe(
      "2\n",
    );
  });

  it("an OCI layout tar keeps the registry's digest; a plain name is NAME:latest", async () => {
    const info = await importFile("imp-oci-tar", files.ociTar);
    expect(info).toMatchObject({
      digest: images.layers.digest,
      references: ["docker.io/library/imp-oci-tar:latest"],
      config: CONFIG,
    });
    const listed = await new Images(daemon.client).get("imp-oci-tar");
    expect(listed.digest).toBe(images.layers.digest);
  });

  it("a multi-platform OCI archive gives its linux/amd64 image", async () => {
    const info = await importFile("imp-multi:1", files.multi);
    expect(info.platform).toBe("linux/amd64");
    expect(info.digest).not.toBe(images.multi.digest);
    const platform = await readFile(path.join(pulledDir(info.digest!), "rootfs/platform"), "utf8");
    expect(platform.trim()).toBe("amd64");
  });

  it("an archive with no linux/amd64 image is image_platform_unavailable, naming what it has", async () => {
    const err = await refused(() => importFile("imp-arm:1", files.armOnly));
    expect(err).toBeInstanceOf(ImagePlatformUnavailableError);
    expect(err.message).toMatch(/no image for linux\/amd64; it has: .*linux\/arm64/);
    expect(await workDirs()).toEqual([]);
  });

  it("a truncated archive is refused and leaves nothing in the store", async () => {
    const cut = path.join(work, "cut.tar");
    await copyFile(files.docker, cut);
    const { size } = await stat(cut);
    await truncate(cut, Math.floor(size / 2));
    const listBefore = await new Images(daemon.client).list();
    const blobsBefore = await blobs();
    const err = await refused(() => importFile("imp-cut:1", cut));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toMatch(/truncated/);
    expect(await workDirs()).toEqual([]);
    expect(await blobs()).toEqual(blobsBefore);
    expect(await new Images(daemon.client).list()).toEqual(listBefore);
  });

  it("a docker archive with a damaged layer is refused (digest mismatch) and leaves nothing", async () => {
    const bad = path.join(work, "damaged.tar");
    await copyFile(files.docker, bad);
    const index = await readTarIndex(bad);
    const manifest = JSON.parse(
      execFileSync("tar", ["-xOf", bad, "manifest.json"], { encoding: "utf8" }),
    ) as { Layers: string[] }[];
    const layer = resolveMember(index, manifest[0]!.Layers[0]!)!;
    const fh = await open(bad, "r+");
    await fh.write(Buffer.from("damaged!"), 0, 8, layer.offset + Math.floor(layer.size / 2));
    await fh.close();
    const blobsBefore = await blobs();
    const err = await refused(() => importFile("imp-damaged:1", bad));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toMatch(/does not match its digest/);
    expect(await workDirs()).toEqual([]);
    expect(await blobs()).toEqual(blobsBefore);
    const refs = (await new Images(daemon.client).list()).flatMap((i) => i.references ?? []);
    expect(refs).not.toContain("docker.io/library/imp-damaged:1");
  });

  it("a root filesystem tarball imports as before (a local image by plain name)", async () => {
    const root = path.join(work, "rootfs");
    await mkdir(path.join(root, "etc"), { recursive: true });
    await writeFile(path.join(root, "etc/hello"), "hi\n");
    const tarball = path.join(work, "rootfs.tar.gz");
    execFileSync("tar", ["-czf", tarball, "-C", root, "."]);
    const info = await importFile("imp-rootfs", tarball);
    expect(info).toMatchObject({ name: "imp-rootfs", source: "imported", ready: true });
    expect(info.digest).toBeUndefined();
    expect(await readFile(path.join(imagesDir, "imp-rootfs/rootfs/etc/hello"), "utf8")).toBe(
      "hi\n",
    );
    const again = await refused(() => importFile("imp-rootfs", tarball));
    expect(again).toBeInstanceOf(ImageExistsError);
    const tagged = await refused(() => importFile("imp-rootfs:2", tarball));
    expect(tagged).toBeInstanceOf(InvalidRequestError);
    expect(tagged.message).toMatch(/plain name/);
    const notTar = path.join(work, "not.tar");
    await writeFile(notTar, "no tar here ".repeat(100));
    expect(await refused(() => importFile("imp-not-tar", notTar))).toBeInstanceOf(
      InvalidRequestError,
    );
    expect(await workDirs()).toEqual([]);
  });
});

describe.each(RUNTIMES)("sandboxes from imported archives (%s)", (runtime) => {
  it("the docker archive's Env, WorkingDir and User hold in exec; info and paddock info show Entrypoint and Cmd", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, image: "imp-docker:1", runtime });
    try {
      const out = await (
        await sandbox.process.exec(["/bin/sh", "-c", "echo $FOO; echo $PATH; pwd; id -u"])
      ).output();
      expect(out.stdout).toBe(`bar\n/opt/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/work\n1000\n`);
      const info = await sandbox.info();
      expect(info.imageConfig).toEqual({
        entrypoint: LAYERS_CONFIG.Entrypoint,
        cmd: LAYERS_CONFIG.Cmd,
        workingDir: LAYERS_CONFIG.WorkingDir,
        user: LAYERS_CONFIG.User,
      });
      const shown = await paddock(daemon, ["info", sandbox.id]);
      expect(shown.stdout).toMatch(/entrypoint\s+\["\/bin\/sh"\]/);
      expect(shown.stdout).toMatch(/cmd\s+\["-c","echo hi"\]/);
    } finally {
      await sandbox.terminate();
    }
  });

  it("the OCI layout's image runs with its files and config", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, image: "imp-oci-dir:2", runtime });
    try {
      const out = await (
        await sandbox.process.exec(["/bin/sh", "-c", "cat /opt/version; pwd"])
      ).output();
      expect(out.stdout).toBe("2\n/work\n");
    } finally {
      await sandbox.terminate();
    }
  });
});
