import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { archiveKind } from "../src/images/archive-import.js";
import { readMember, readTarIndex, resolveMember } from "../src/images/tar-index.js";

describe("readTarIndex", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "paddock-tar-index-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A tar of `files` made by GNU tar (`format`: gnu long names or pax), from `./`. */
  function tarOf(files: Record<string, string>, format = "gnu", links: [string, string][] = []) {
    const src = path.join(dir, "src");
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
      writeFileSync(path.join(src, name), content);
    }
    for (const [name, target] of links) symlinkSync(target, path.join(src, name));
    const file = path.join(dir, `${format}.tar`);
    execFileSync("tar", ["-c", `--format=${format}`, "-f", file, "-C", src, "."]);
    return file;
  }

  it("indexes members without ./, long names (GNU and pax) and reads small ones", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(120)}.json`;
    for (const format of ["gnu", "pax"]) {
      const file = tarOf({ "manifest.json": "[1]", [long]: "{}" }, format);
      const index = await readTarIndex(file);
      expect(index.truncated).toBe(false);
      expect(index.notTar).toBe(false);
      expect((await readMember(file, index.members.get("manifest.json")!)).toString()).toBe("[1]");
      expect(index.members.get(long)?.size).toBe(2);
      rmSync(path.join(dir, "src"), { recursive: true });
    }
  });

  it("follows a symlinked layer to its file", async () => {
    const file = tarOf({ "a/layer.tar": "data" }, "gnu", [["b", "a"]]);
    const index = await readTarIndex(file);
    expect(resolveMember(index, "b/layer.tar")).toBeUndefined();
    mkdirSync(path.join(dir, "src", "c"));
    symlinkSync("../a/layer.tar", path.join(dir, "src", "c", "layer.tar"));
    execFileSync("tar", ["-c", "-f", file, "-C", path.join(dir, "src"), "."]);
    const again = await readTarIndex(file);
    expect(resolveMember(again, "c/layer.tar")?.name).toBe("a/layer.tar");
  });

  it("tells truncated files and non-tars apart", async () => {
    const file = tarOf({ big: "x".repeat(100_000), "manifest.json": "[]" });
    truncateSync(file, 50_000);
    expect(await readTarIndex(file)).toMatchObject({ truncated: true, notTar: false });
    const text = path.join(dir, "text");
    writeFileSync(text, "hello ".repeat(200));
    expect(await readTarIndex(text)).toMatchObject({ truncated: false, notTar: true });
  });

  it("archiveKind: docker save, OCI layout (also with manifest.json), else a rootfs", async () => {
    const kind = async (files: Record<string, string>) => {
      rmSync(path.join(dir, "src"), { recursive: true, force: true });
      return archiveKind(await readTarIndex(tarOf(files)));
    };
    expect(await kind({ "manifest.json": "[]", "abc/layer.tar": "" })).toBe("docker-archive");
    expect(await kind({ "oci-layout": "{}", "index.json": "{}" })).toBe("oci-layout");
    expect(await kind({ "oci-layout": "{}", "index.json": "{}", "manifest.json": "[]" })).toBe(
      "oci-layout",
    );
    expect(await kind({ "etc/passwd": "", "index.json": "{}" })).toBe("rootfs");
    expect(await kind({ "sub/manifest.json": "[]" })).toBe("rootfs");
  });
});
