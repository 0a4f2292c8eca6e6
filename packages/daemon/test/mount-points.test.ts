import { lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMountPoints } from "../src/images/mount-points.js";

describe("createMountPoints", () => {
  let base: string;
  let rootfs: string;
  let outside: string;

  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "paddock-mp-"));
    rootfs = path.join(base, "rootfs");
    outside = path.join(base, "outside");
    await mkdir(rootfs);
    await mkdir(outside);
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const isRealDir = async (p: string) => {
    const st = await lstat(p);
    return st.isDirectory() && !st.isSymbolicLink();
  };

  it("creates every mount point in an empty rootfs", async () => {
    await createMountPoints(rootfs);
    for (const rel of ["proc", "sys", "dev", "tmp", ".paddock/runtime", ".paddock/sock"]) {
      expect(await isRealDir(path.join(rootfs, rel)), rel).toBe(true);
    }
  });

  it("sets /tmp to mode 1777", async () => {
    await createMountPoints(rootfs);
    expect((await stat(path.join(rootfs, "tmp"))).mode & 0o7777).toBe(0o1777);
  });

  it("replaces a .paddock symlink to a dir outside and creates nothing there", async () => {
    await symlink(outside, path.join(rootfs, ".paddock"));
    await createMountPoints(rootfs);
    expect(await isRealDir(path.join(rootfs, ".paddock"))).toBe(true);
    expect(await isRealDir(path.join(rootfs, ".paddock", "runtime"))).toBe(true);
    expect(await readdir(outside)).toEqual([]);
  });

  it("replaces a relative symlink deeper down", async () => {
    await mkdir(path.join(rootfs, ".paddock"));
    await symlink("../../outside", path.join(rootfs, ".paddock", "sock"));
    await createMountPoints(rootfs);
    expect(await isRealDir(path.join(rootfs, ".paddock", "sock"))).toBe(true);
    expect(await readdir(outside)).toEqual([]);
  });

  it("replaces a tmp symlink without changing the mode of its target", async () => {
    await symlink(outside, path.join(rootfs, "tmp"));
    const before = (await stat(outside)).mode;
    await createMountPoints(rootfs);
    expect(await isRealDir(path.join(rootfs, "tmp"))).toBe(true);
    expect((await stat(outside)).mode).toBe(before);
  });

  it("replaces a regular file where a mount point goes", async () => {
    await writeFile(path.join(rootfs, "proc"), "not a dir");
    await createMountPoints(rootfs);
    expect(await isRealDir(path.join(rootfs, "proc"))).toBe(true);
  });

  it("keeps the contents of an existing directory", async () => {
    await mkdir(path.join(rootfs, "tmp"));
    await writeFile(path.join(rootfs, "tmp", "keep"), "x");
    await createMountPoints(rootfs);
    expect(await readdir(path.join(rootfs, "tmp"))).toEqual(["keep"]);
  });

  it("can run twice", async () => {
    await createMountPoints(rootfs);
    await expect(createMountPoints(rootfs)).resolves.toBeUndefined();
  });
});
