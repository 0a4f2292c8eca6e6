import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers } from "../helpers/host.js";
import { REPO, RUNTIMES, TEST_IMAGES_DIR } from "../helpers/paths.js";

let daemon: TestDaemon;
let scratch: string;
beforeAll(async () => {
  daemon = await startDaemon();
  scratch = await mkdtemp(path.join(tmpdir(), "paddock-cli-"));
});
afterAll(async () => {
  await daemon?.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe.each(RUNTIMES)("paddock CLI on %s", (runtime) => {
  it("create prints only the id; list, info and rm work with --json", async () => {
    const created = await paddock(daemon, [
      "create",
      "--runtime",
      runtime,
      "--label",
      "cli=yes",
      "--env",
      "A=1",
      "--memory",
      "128",
    ]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^sb_[a-z0-9]{16}$/);

    const list = JSON.parse(
      (await paddock(daemon, ["list", "--label", "cli=yes", "--json"])).stdout,
    ) as { id: string }[];
    expect(list.map((s) => s.id)).toEqual([id]);

    const info = JSON.parse((await paddock(daemon, ["info", id, "--json"])).stdout) as Record<
      string,
      unknown
    >;
    expect(info).toMatchObject({
      id,
      runtime,
      state: "running",
      memoryMiB: 128,
      labels: { cli: "yes" },
    });
    expect((await paddock(daemon, ["info", id])).stdout).toMatch(/state\s+running/);

    const removed = await paddock(daemon, ["rm", id]);
    expect(removed).toMatchObject({ code: 0, stdout: `${id}\n` });
    expect(leftovers(daemon.dataDir, runtime, id)).toEqual([]);
    expect(JSON.parse((await paddock(daemon, ["list", "--json"])).stdout)).toEqual([]);
  });
});

describe("paddock CLI errors", () => {
  it("reports a missing sandbox with its code and exits 1", async () => {
    const res = await paddock(daemon, ["info", "sb_missing"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no sandbox sb_missing.*\[sandbox_not_found\]/);
  });

  it("reports a bad option value and exits 2", async () => {
    const res = await paddock(daemon, ["create", "--env", "novalue"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--env must be KEY=VALUE/);
  });

  it("reports a wrong token", async () => {
    const res = await paddock(daemon, ["list"], { PADDOCK_TOKEN: "pdk_wrong" });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\[unauthorized\]/);
  });

  it("reads the token from PADDOCK_DATA_DIR when PADDOCK_TOKEN is unset", async () => {
    const res = await paddock(daemon, ["list", "--json"], {
      PADDOCK_TOKEN: "",
      PADDOCK_DATA_DIR: daemon.dataDir,
    });
    expect(res.code).toBe(0);
  });
});

describe("paddock image import", () => {
  const source = path.join(TEST_IMAGES_DIR, "busybox", "rootfs");

  it.each(["directory", "tarball", "gzip tarball"])(
    "imports a rootfs %s and runs a sandbox from it",
    async (kind) => {
      // Make sure the busybox image exists to copy from.
      await paddock(daemon, ["image", "build", "busybox"]);
      const name = `imported-${kind.replace(/ /g, "-")}`;
      let arg = source;
      if (kind !== "directory") {
        arg = path.join(scratch, kind === "tarball" ? "rootfs.tar" : "rootfs.tar.gz");
        execFileSync("tar", [kind === "tarball" ? "-cf" : "-czf", arg, "-C", source, "."]);
      }
      const res = await paddock(daemon, ["image", "import", name, arg]);
      expect(res.stderr).toBe("");
      expect(res).toMatchObject({ code: 0, stdout: `${name}\n` });
      const images = JSON.parse((await paddock(daemon, ["image", "ls", "--json"])).stdout) as {
        name: string;
        source: string;
        ready: boolean;
      }[];
      expect(images).toContainEqual(
        expect.objectContaining({ name, source: "imported", ready: true }),
      );

      const id = (
        await paddock(daemon, ["create", "--image", name, "--runtime", "runc"])
      ).stdout.trim();
      expect(id).toMatch(/^sb_/);
      expect((await paddock(daemon, ["rm", id])).code).toBe(0);
      expect((await paddock(daemon, ["image", "rm", name])).code).toBe(0);
    },
  );

  it("refuses a file that is not a tar archive, leaving no image", async () => {
    const bogus = path.join(scratch, "bogus.tar");
    execFileSync("sh", ["-c", `head -c 4096 /dev/urandom > ${bogus}`]);
    const res = await paddock(daemon, ["image", "import", "bogus", bogus]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/not a valid tar archive.*\[invalid_request\]/s);
    const images = JSON.parse((await paddock(daemon, ["image", "ls", "--json"])).stdout) as {
      name: string;
    }[];
    expect(images.map((i) => i.name)).not.toContain("bogus");
  });

  it("refuses to import over a built-in image", async () => {
    const res = await paddock(daemon, ["image", "import", "busybox", source]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\[image_exists\]/);
  });
});

describe("npx paddock", () => {
  it("runs from the repository root", () => {
    const out = execFileSync("npx", ["paddock", "--version"], { cwd: REPO, encoding: "utf8" });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
