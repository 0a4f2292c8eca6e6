import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import tar from "tar-stream";
import { extractInto } from "../src/files/archive.js";
import { AgentError } from "../src/router.js";

/** A tar archive of these files (name → content), as bytes. */
async function tarOf(files: Record<string, Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, data] of Object.entries(files)) pack.entry({ name }, data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Everything under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "paddock-archive-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A request body that arrives in chunks, as it would over a socket. */
const body = (bytes: Buffer, chunk = 700) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk);
    })(),
  );

async function refusal(bytes: Buffer): Promise<AgentError> {
  const err = await extractInto(path.join(dir, "out"), body(bytes)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AgentError);
  expect((err as AgentError).code).toBe("invalid_request");
  return err as AgentError;
}

describe("a damaged archive is an invalid_request and keeps nothing of the damage", () => {
  it("a truncated gzip", async () => {
    const err = await refusal(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]));
    expect(err.message).toMatch(/gzip-compressed.*uncompressed tar/);
    expect(err.message).toMatch(/nothing was written/);
    expect(await tree(dir)).toEqual([]);
  });

  it("700 bytes of A", async () => {
    const err = await refusal(Buffer.alloc(700, "A"));
    expect(err.message).toMatch(/not a valid tar archive/);
    expect(await tree(dir)).toEqual([]);
  });

  it("an archive cut inside a small file and inside a large one", async () => {
    for (const size of [4096, 3 * 1024 * 1024]) {
      const whole = await tarOf({ "a.bin": Buffer.alloc(size, 1) });
      const err = await refusal(whole.subarray(0, 512 + size / 2));
      expect(err.message).toMatch(/not a valid tar archive.*nothing was written/);
      expect(await tree(dir)).toEqual([]);
    }
  });

  it("entries before the damage are written and named", async () => {
    const whole = await tarOf({
      "one.txt": Buffer.from("1"),
      "two.bin": Buffer.alloc(4 * 1024 * 1024, 2),
    });
    const err = await refusal(whole.subarray(0, whole.length - 1024 * 1024));
    expect(err.message).toContain(
      `the 1 entries before the damage were written (${dir}/out/one.txt)`,
    );
    expect(await tree(dir)).toEqual(["out", "out/one.txt"]);
  });

  it("the body is read to its end, not destroyed", async () => {
    const source = body(Buffer.concat([Buffer.alloc(512, "A"), Buffer.alloc(1024 * 1024, "B")]));
    await expect(extractInto(path.join(dir, "out"), source)).rejects.toBeInstanceOf(AgentError);
    expect(source.destroyed).toBe(false);
    source.resume();
    await new Promise((r) => source.once("end", r));
  });
});
