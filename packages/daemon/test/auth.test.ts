import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadOrCreateToken } from "../src/api/auth.js";

describe("loadOrCreateToken", () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "paddock-token-"));
    file = path.join(dir, "token");
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates a 0600 token file", async () => {
    const token = await loadOrCreateToken(file);
    expect(token).toMatch(/^pdk_[A-Za-z0-9_-]{43}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, "utf8")).trim()).toBe(token);
  });

  it("returns the same token on the second call", async () => {
    const first = await loadOrCreateToken(file);
    expect(await loadOrCreateToken(file)).toBe(first);
  });

  it("makes a different token for a different file", async () => {
    const a = await loadOrCreateToken(file);
    const b = await loadOrCreateToken(path.join(dir, "other"));
    expect(a).not.toBe(b);
  });

  it("reads an existing token and trims its newline", async () => {
    await writeFile(file, "pdk_handwritten\n", { mode: 0o600 });
    expect(await loadOrCreateToken(file)).toBe("pdk_handwritten");
  });

  it("agrees with itself when called concurrently", async () => {
    const tokens = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateToken(file)));
    expect(new Set(tokens).size).toBe(1);
    expect((await readFile(file, "utf8")).trim()).toBe(tokens[0]);
  });

  it("fails on a path it cannot read rather than making a token", async () => {
    await expect(loadOrCreateToken(dir)).rejects.toThrow();
  });
});

describe("loadOrCreateToken with an empty leftover file", () => {
  it("replaces an empty token file instead of hanging", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "paddock-token-"));
    const file = path.join(dir, "token");
    await writeFile(file, "  \n");
    const token = await loadOrCreateToken(file);
    expect(token).toMatch(/^pdk_/);
    expect((await readFile(file, "utf8")).trim()).toBe(token);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await rm(dir, { recursive: true, force: true });
  });
});
