import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Images, Sandbox } from "paddock";
import { paddock } from "../helpers/cli.js";
import { runningBuilders, writeContext } from "../helpers/build-contexts.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { pushTestImages, type TestImages } from "../helpers/test-images.js";

// `paddock image build` as a user runs it: the context packed with its .dockerignore, Docker's
// output on stderr as it comes, the image on stdout, a failure's code and exit status. The
// builds themselves are tested on both runtimes by images-build.test.ts; runsc is enough here.
let registry: TestRegistry;
let images: TestImages;
let daemon: TestDaemon;
let work: string;
const built = ["cli-built:1"];

beforeAll(async () => {
  registry = await startRegistry();
  images = await pushTestImages(registry);
  work = await mkdtemp(path.join(tmpdir(), "paddock-build-cli-"));
  daemon = await startDaemon(undefined, { PADDOCK_INSECURE_REGISTRIES: registry.host });
}, 600_000);
afterAll(async () => {
  const store = new Images(daemon.client);
  for (const name of built) await store.remove(name).catch(() => {});
  await store.remove(images?.layers.ref ?? "none").catch(() => {});
  await daemon?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const context = (name: string, files: Record<string, string>) => writeContext(work, name, files);
const builders = () => runningBuilders(daemon.client);

describe("paddock image build", () => {
  it("builds a context with its .dockerignore and a Dockerfile outside it, streaming the log", async () => {
    const dir = await context("app", {
      "kept.txt": "kept\n",
      "link-to-kept": "-> kept.txt",
      "secret.key": "never sent\n",
      "node_modules/dep/index.js": "never sent\n",
      ".dockerignore": "*.key\nnode_modules\n",
    });
    const dockerfile = path.join(work, "outside.Dockerfile");
    await writeFile(
      dockerfile,
      `FROM ${images.layers.ref}\nUSER root\nARG MSG\nCOPY . /ctx/\nRUN ls -a /ctx && echo "msg=$MSG"\n`,
    );
    const res = await paddock(daemon, [
      "image",
      "build",
      "cli-built:1",
      dir,
      "-f",
      dockerfile,
      "--build-arg",
      "MSG=from the cli",
      "--runtime",
      "runsc",
      "--json",
    ]);
    expect(res.code, res.stderr).toBe(0);
    // Phases as status lines, Docker's own output as it printed it.
    expect(res.stderr).toContain("building cli-built:1: receiving the build context");
    expect(res.stderr).toMatch(/Step 5\/5 : RUN ls -a \/ctx/);
    expect(res.stderr).toContain("msg=from the cli");
    const listed = res.stderr.slice(res.stderr.indexOf("Step 5/5"));
    expect(listed).toContain("kept.txt");
    expect(listed).toContain("link-to-kept");
    expect(listed).toContain(".dockerignore");
    expect(listed).not.toContain("secret.key");
    expect(listed).not.toContain("node_modules");
    const image = JSON.parse(res.stdout) as { name: string; digest: string };
    expect(image.name).toBe("docker.io/library/cli-built:1");
    expect(image.digest).toMatch(/^sha256:/);

    // The symlink was sent as a symlink: COPY keeps it as one.
    const sandbox = await Sandbox.create({ ...daemon.client, image: "cli-built:1" });
    try {
      const proc = await sandbox.process.exec(
        "sh",
        "-c",
        "cat /ctx/link-to-kept; ls -l /ctx/link-to-kept",
      );
      const r = await proc.output();
      expect(r.stdout).toMatch(/^kept\n.*link-to-kept -> kept\.txt\n$/);
    } finally {
      await sandbox.terminate();
    }
  });

  it("exits 1 with the error's code when a step fails, printing nothing on stdout", async () => {
    const dir = await context("failing", {
      Dockerfile: `FROM ${images.layers.ref}\nRUN echo about to fail && exit 3\n`,
    });
    const res = await paddock(daemon, ["image", "build", "cli-failed:1", dir]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain("about to fail");
    expect(res.stderr).toMatch(/error: .*returned a non-zero code: 3.*\[image_build_failed\]/s);
    expect(await builders()).toEqual([]);
  });

  it("refuses a missing context or Dockerfile before sending anything", async () => {
    const missing = await paddock(daemon, ["image", "build", "x", path.join(work, "nothing")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/build context .*nothing does not exist.*\[invalid_request\]/);
    const empty = await context("empty", { "README.md": "no Dockerfile\n" });
    const noFile = await paddock(daemon, ["image", "build", "x", empty]);
    expect(noFile.stderr).toMatch(
      /no Dockerfile at "Dockerfile" in the build context .*empty;.*\[invalid_request\]/,
    );
  });
});
