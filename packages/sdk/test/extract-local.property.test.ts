import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractLocal } from "../src/local-files.js";

/**
 * downloadDirectory unpacks a tar that comes out of a sandbox, where anything may be running:
 * whatever the archive holds (`..`, absolute names, a symlink and then a file through it, hard
 * links, devices), nothing outside the destination directory may be created or changed.
 */

interface Entry {
  name: string;
  type: "file" | "directory" | "symlink" | "link" | "fifo" | "character-device";
  linkname?: string;
  content?: string;
}

async function tarStream(entries: Entry[]): Promise<ReadableStream<Uint8Array>> {
  const pack = tar.pack();
  for (const e of entries) {
    const content = e.type === "file" ? (e.content ?? "pwned") : "";
    pack.entry(
      {
        name: e.name,
        type: e.type,
        linkname: e.linkname,
        size: Buffer.byteLength(content),
        mode: 0o644,
        ...(e.type === "character-device" ? { devmajor: 1, devminor: 3 } : {}),
      },
      content,
    );
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  const bytes = new Uint8Array(Buffer.concat(chunks));
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** Every path under `dir` with what it is (content or link target), symlinks not followed. */
async function describeTree(dir: string, rel = "", out: Record<string, string> = {}) {
  for (const name of (await readdir(path.join(dir, rel))).sort()) {
    const childRel = path.join(rel, name);
    const full = path.join(dir, childRel);
    const st = await lstat(full);
    if (st.isSymbolicLink()) out[childRel] = `link ${await readlink(full)}`;
    else if (st.isDirectory()) {
      out[childRel] = `dir ${(st.mode & 0o7777).toString(8)}`;
      await describeTree(dir, childRel, out);
    } else out[childRel] = `file ${(st.mode & 0o7777).toString(8)} ${await readFile(full, "utf8")}`;
  }
  return out;
}

let base: string;
beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), "paddock-extract-"));
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

/**
 * A fresh jail per run: `root` is the destination; beside it, `outside` (a victim file and an
 * empty directory) and `root-sibling` (a name that shares root's prefix).
 */
let runs = 0;
async function jail() {
  const dir = path.join(base, `j${runs++}`);
  const root = path.join(dir, "root");
  await mkdir(path.join(dir, "outside", "empty"), { recursive: true });
  await mkdir(path.join(dir, "root-sibling"), { recursive: true });
  await writeFile(path.join(dir, "outside", "victim"), "original");
  await mkdir(root);
  return { dir, root };
}

function hostileEntries(jailDir: string): fc.Arbitrary<Entry[]> {
  const segment = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom("..", ".", "", "a", "link", "outside", "victim") },
    { weight: 2, arbitrary: fc.constantFrom("root-sibling", "empty", "b", "x".repeat(120)) },
  );
  const name = fc
    .tuple(
      fc.constantFrom("", "", "", "/", "./", "../", `${jailDir}/`, `${jailDir}/root/../`),
      fc.array(segment, { minLength: 1, maxLength: 5 }),
    )
    .map(([head, segments]) => head + segments.join("/"));
  const linkname = fc.constantFrom(
    "..",
    "../outside",
    "../..",
    "/",
    `${jailDir}/outside`,
    `${jailDir}/outside/victim`,
    "a",
    ".",
  );
  const entry: fc.Arbitrary<Entry> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ name, type: fc.constant("file" as const) }) },
    { weight: 2, arbitrary: fc.record({ name, type: fc.constant("directory" as const) }) },
    {
      weight: 3,
      arbitrary: fc.record({ name, type: fc.constant("symlink" as const), linkname }),
    },
    { weight: 1, arbitrary: fc.record({ name, type: fc.constant("link" as const), linkname }) },
    {
      weight: 1,
      arbitrary: fc.record({
        name,
        type: fc.constantFrom("fifo" as const, "character-device" as const),
      }),
    },
  );
  return fc.array(entry, { minLength: 1, maxLength: 8 });
}

describe("extractLocal on a hostile archive", () => {
  it("never creates or changes anything outside the destination", async () => {
    // The jail's path is only known per run; generate against a placeholder and substitute.
    const PLACEHOLDER = "/@@jail@@";
    await fc.assert(
      fc.asyncProperty(hostileEntries(PLACEHOLDER), async (template) => {
        const { dir, root } = await jail();
        const entries = template.map((e) => ({
          ...e,
          name: e.name.replaceAll(PLACEHOLDER, dir),
          linkname: e.linkname?.replaceAll(PLACEHOLDER, dir),
        }));
        const before = await describeTree(dir);
        // It may refuse the archive part way; it must not throw anything but an Error.
        await extractLocal(await tarStream(entries), root).catch((err: unknown) => {
          expect(err).toBeInstanceOf(Error);
        });
        const after = await describeTree(dir);
        const outsideRoot = (tree: Record<string, string>) =>
          Object.fromEntries(
            Object.entries(tree).filter(([rel]) => rel !== "root" && !rel.startsWith("root/")),
          );
        expect(outsideRoot(after)).toEqual(outsideRoot(before));
        expect(after.root).toMatch(/^dir /);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses the classic attacks by name", async () => {
    const attacks: [string, Entry[]][] = [
      ["dot-dot", [{ name: "../outside/victim", type: "file" }]],
      ["absolute", [{ name: "@/outside/victim", type: "file" }]],
      [
        "symlink then file through it",
        [
          { name: "link", type: "symlink", linkname: "../outside" },
          { name: "link/victim", type: "file" },
        ],
      ],
      [
        "symlink then directory and file through it",
        [
          { name: "link", type: "symlink", linkname: "@/outside" },
          { name: "link/empty/new", type: "file" },
        ],
      ],
      ["prefix sibling", [{ name: "../root-sibling/new", type: "file" }]],
    ];
    for (const [label, template] of attacks) {
      const { dir, root } = await jail();
      const entries = template.map((e) => ({
        ...e,
        name: e.name.replace("@", dir),
        linkname: e.linkname?.replace("@", dir),
      }));
      const err = await extractLocal(await tarStream(entries), root).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, label).toBeInstanceOf(Error);
      expect(await readFile(path.join(dir, "outside", "victim"), "utf8"), label).toBe("original");
      expect(await readdir(path.join(dir, "outside", "empty")), label).toEqual([]);
      expect(await readdir(path.join(dir, "root-sibling")), label).toEqual([]);
      expect((await readdir(dir)).sort(), label).toEqual(["outside", "root", "root-sibling"]);
    }
  });

  it("a file over a symlink replaces the link, not what it points to", async () => {
    const { dir, root } = await jail();
    const count = await extractLocal(
      await tarStream([
        { name: "link", type: "symlink", linkname: "../outside/victim" },
        { name: "link", type: "file", content: "replaced" },
        { name: "hard", type: "link", linkname: "../outside/victim" },
        { name: "dev", type: "character-device" },
      ]),
      root,
    );
    expect(count).toBe(2);
    expect(await readFile(path.join(dir, "outside", "victim"), "utf8")).toBe("original");
    expect((await lstat(path.join(root, "link"))).isFile()).toBe(true);
    expect(await readFile(path.join(root, "link"), "utf8")).toBe("replaced");
    expect(await readdir(root)).toEqual(["link"]);
  });
});
