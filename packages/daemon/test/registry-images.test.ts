import { cp, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../src/exec.js";
import { exportDockerArchive } from "../src/images/archive-export.js";
import type { PulledImage } from "../src/images/pulled-images.js";

describe("exportDockerArchive", () => {
  let work: string;
  let store: { dir: string; blobsDir: string };
  let image: PulledImage;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), "paddock-export-test-"));
    // A one-layer image made by umoci, its blobs in a store's shared blob dir.
    const layout = path.join(work, "layout");
    await run("umoci", ["init", "--layout", layout]);
    await run("umoci", ["new", "--image", `${layout}:1`]);
    await writeFile(path.join(work, "hello"), "hello\n");
    await run("umoci", ["insert", "--image", `${layout}:1`, path.join(work, "hello"), "/hello"]);
    const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    store = { dir: path.join(work, "store"), blobsDir: path.join(work, "store/.oci/blobs/sha256") };
    await mkdir(path.dirname(store.blobsDir), { recursive: true });
    await cp(path.join(layout, "blobs/sha256"), store.blobsDir, { recursive: true });
    const manifest = index.manifests[0]!.digest;
    image = {
      image: `127.0.0.1:5000/a/b:1@${manifest}`,
      rootfs: "/nonexistent",
      meta: {
        digest: manifest,
        platform: "linux/amd64",
        pulledAt: new Date().toISOString(),
        sizeBytes: 0,
        config: { env: [], workingDir: null, user: null, entrypoint: null, cmd: null },
        blobs: [manifest],
      },
    };
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const workDirs = async () =>
    (await readdir(store.dir)).filter((n) => n.startsWith(".pull-")).sort();

  async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  it("streams a docker archive naming the tag, and removes its work dir", async () => {
    const exported = await exportDockerArchive(store, image, "127.0.0.1:5000/a/b:1");
    expect(await workDirs()).toHaveLength(1);
    const bytes = await readAll(exported.stream);
    await exported.done;
    const tar = path.join(work, "out.tar");
    await writeFile(tar, bytes);
    const manifest = JSON.parse(await run("tar", ["-xOf", tar, "manifest.json"])) as {
      RepoTags: string[];
      Layers: string[];
    }[];
    expect(manifest).toMatchObject([{ RepoTags: ["127.0.0.1:5000/a/b:1"] }]);
    expect(manifest[0]!.Layers).toHaveLength(1);
    expect(await workDirs()).toEqual([]);
  });

  it("a missing layer blob fails the export without leaving the reader waiting", async () => {
    const manifest = JSON.parse(
      await readFile(path.join(store.blobsDir, image.meta.digest.slice(7)), "utf8"),
    ) as { layers: { digest: string }[] };
    const layer = path.join(store.blobsDir, manifest.layers[0]!.digest.slice(7));
    const saved = await readFile(layer);
    await unlink(layer);
    try {
      const exported = await exportDockerArchive(store, image, "a/b:1");
      const [read, done] = await Promise.allSettled([readAll(exported.stream), exported.done]);
      expect(read.status).toBe("fulfilled");
      expect(done.status).toBe("rejected");
      expect((done as PromiseRejectedResult).reason).toMatchObject({ code: "internal" });
      expect(await workDirs()).toEqual([]);
    } finally {
      await writeFile(layer, saved);
    }
  });

  it("a lost manifest is image_corrupt, before skopeo runs", async () => {
    const lost = { ...image, meta: { ...image.meta, blobs: [`sha256:${"0".repeat(64)}`] } };
    await expect(exportDockerArchive(store, lost, "a/b:1")).rejects.toMatchObject({
      code: "image_corrupt",
    });
    expect(await workDirs()).toEqual([]);
  });

  it("abort stops skopeo and the stream", async () => {
    const exported = await exportDockerArchive(store, image, "a/b:1");
    exported.abort();
    await expect(exported.done).rejects.toThrow();
    expect(exported.stream.destroyed).toBe(true);
    expect(await workDirs()).toEqual([]);
  });
});
