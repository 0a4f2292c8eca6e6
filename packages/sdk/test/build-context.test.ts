import type http from "node:http";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { packBuildContext } from "../src/build-context.js";
import {
  ImageBuildFailedError,
  InvalidRequestError,
  isPaddockError,
  type PaddockError,
} from "../src/errors.js";
import { Images } from "../src/images.js";
import { fakeDaemon, line, type FakeDaemon } from "./helpers/fake-daemon.js";

/**
 * A Dockerfile build's context is packed as `docker build` packs it: `.dockerignore` applied
 * with Docker's rules, the Dockerfile and the ignore file always sent, symlinks kept as
 * symlinks; and `Images.build` sends it with the build's query and reads the log stream.
 */

interface Entry {
  type: string;
  content?: string;
  linkname?: string;
}

let scratch: string;
let n = 0;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "paddock-sdk-build-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A fresh directory holding `files` (a trailing / makes a directory; `->` a symlink). */
async function tree(files: Record<string, string>): Promise<string> {
  const root = path.join(scratch, `ctx-${++n}`);
  await mkdir(root);
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(root, name);
    await mkdir(path.dirname(full), { recursive: true });
    if (name.endsWith("/")) await mkdir(full, { recursive: true });
    else if (content.startsWith("-> ")) await symlink(content.slice(3), full);
    else await writeFile(full, content);
  }
  return root;
}

/** Every entry of a tar stream by name. */
async function readTar(stream: Readable): Promise<Record<string, Entry>> {
  const extract = tar.extract();
  stream.pipe(extract);
  const out: Record<string, Entry> = {};
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    const { name, type, linkname } = entry.header;
    out[name] = {
      type: type ?? "file",
      ...(type === "file" && { content: Buffer.concat(chunks).toString() }),
      ...(type === "symlink" && { linkname: linkname ?? "" }),
    };
  }
  return out;
}

async function pack(root: string, dockerfile?: string) {
  const packed = await packBuildContext(root, dockerfile);
  return { dockerfile: packed.dockerfile, entries: await readTar(packed.tar) };
}

async function failure(promise: Promise<unknown>): Promise<PaddockError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPaddockError(err), String(err)).toBe(true);
  return err as PaddockError;
}

describe("packBuildContext", () => {
  it("sends every file and directory, and symlinks as symlinks, never followed", async () => {
    const root = await tree({
      Dockerfile: "FROM scratch\n",
      "src/app.js": "1",
      "empty/": "",
      "etc-link": "-> /etc",
      "passwd-link": "-> /etc/passwd",
      "src/up": "-> ../src",
    });
    const { dockerfile, entries } = await pack(root);
    expect(dockerfile).toBe("Dockerfile");
    expect(entries).toEqual({
      Dockerfile: { type: "file", content: "FROM scratch\n" },
      empty: { type: "directory" },
      "etc-link": { type: "symlink", linkname: "/etc" },
      "passwd-link": { type: "symlink", linkname: "/etc/passwd" },
      src: { type: "directory" },
      "src/app.js": { type: "file", content: "1" },
      "src/up": { type: "symlink", linkname: "../src" },
    });
  });

  it("applies .dockerignore as Docker does, and always sends the Dockerfile and the ignore file", async () => {
    const root = await tree({
      Dockerfile: "FROM scratch\n",
      ".dockerignore": [
        "# comment",
        "Dockerfile",
        ".dockerignore",
        "node_modules",
        "*.log",
        "!keep.log",
        "/secrets/",
        "**/*.tmp",
        "docs",
        "!docs/keep.md",
      ].join("\n"),
      "app.js": "1",
      "a.log": "x",
      "keep.log": "k",
      "node_modules/x/index.js": "x",
      "sub/node_modules/y.js": "nested: only ./node_modules is matched",
      "sub/b.log": "a *.log matches in the context's root only",
      "sub/c.tmp": "x",
      "secrets/key": "x",
      "docs/other.md": "x",
      "docs/keep.md": "kept",
    });
    const { entries } = await pack(root);
    expect(Object.keys(entries).sort()).toEqual([
      ".dockerignore",
      "Dockerfile",
      "app.js",
      "docs/keep.md",
      "keep.log",
      "sub",
      "sub/b.log",
      "sub/node_modules",
      "sub/node_modules/y.js",
    ]);
  });

  it("takes the Dockerfile from an excluded directory, and nothing else from it", async () => {
    const root = await tree({
      ".dockerignore": "build\n",
      "build/Dockerfile": "FROM scratch\n",
      "build/other": "x",
      "app.js": "1",
    });
    const { dockerfile, entries } = await pack(root, "build/Dockerfile");
    expect(dockerfile).toBe("build/Dockerfile");
    expect(Object.keys(entries).sort()).toEqual([".dockerignore", "app.js", "build/Dockerfile"]);
  });

  it("sends a Dockerfile outside the context under a generated name", async () => {
    const root = await tree({ "app.js": "1" });
    const outside = path.join(scratch, `outside-${++n}.Dockerfile`);
    await writeFile(outside, "FROM scratch\nCOPY app.js /\n");
    const { dockerfile, entries } = await pack(root, outside);
    expect(dockerfile).toMatch(/^\.dockerfile\.[0-9a-f]{20}$/);
    expect(entries[dockerfile]).toEqual({ type: "file", content: "FROM scratch\nCOPY app.js /\n" });
    expect(Object.keys(entries).sort()).toEqual([dockerfile, "app.js"].sort());
  });

  it("follows a Dockerfile that is a symlink, to the file it names", async () => {
    const root = await tree({
      Dockerfile: "-> docker/prod.Dockerfile",
      "docker/prod.Dockerfile": "FROM scratch\n",
    });
    const { dockerfile, entries } = await pack(root);
    expect(dockerfile).toBe("docker/prod.Dockerfile");
    expect(entries.Dockerfile).toEqual({ type: "symlink", linkname: "docker/prod.Dockerfile" });
    expect(entries[dockerfile]).toEqual({ type: "file", content: "FROM scratch\n" });
  });

  it("uses BuildKit's <Dockerfile>.dockerignore instead of the context's", async () => {
    const root = await tree({
      ".dockerignore": "a.txt\n",
      "app.Dockerfile": "FROM scratch\n",
      "app.Dockerfile.dockerignore": "b.txt\napp.Dockerfile.dockerignore\n",
      "a.txt": "1",
      "b.txt": "2",
    });
    const { entries } = await pack(root, "app.Dockerfile");
    expect(Object.keys(entries).sort()).toEqual([
      ".dockerignore",
      "a.txt",
      "app.Dockerfile",
      "app.Dockerfile.dockerignore",
    ]);
  });

  it.each<[string, () => Promise<[string, string?]>, RegExp]>([
    [
      "a missing context",
      async () => [path.join(scratch, "no-such-dir")],
      /build context .*no-such-dir does not exist/,
    ],
    [
      "a context that is a file",
      async () => [path.join(await tree({ f: "x" }), "f")],
      /build context .* is not a directory/,
    ],
    [
      "a missing Dockerfile",
      async () => [await tree({ "app.js": "1" })],
      /no Dockerfile at "Dockerfile" in the build context \//,
    ],
    [
      "a Dockerfile that is a directory",
      async () => [await tree({ "Dockerfile/": "" })],
      /the Dockerfile at "Dockerfile" .* is not a regular file/,
    ],
  ])("refuses %s as InvalidRequestError", async (_what, args, message) => {
    const [root, dockerfile] = await args();
    const err = await failure(packBuildContext(root, dockerfile));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toMatch(message);
  });
});

describe("Images.build with a Dockerfile", () => {
  let daemon: FakeDaemon | undefined;
  afterEach(async () => {
    await daemon?.close();
    daemon = undefined;
  });

  const IMAGE = {
    name: "app:1",
    source: "imported",
    ready: true,
    createdAt: "2025-01-01T00:00:00.000Z",
    digest: `sha256:${"a".repeat(64)}`,
  };

  /** A daemon that records the build request and answers `lines`. */
  async function buildDaemon(lines: unknown[]) {
    const seen: { url?: URL; contentType?: string; entries?: Record<string, Entry> } = {};
    daemon = await fakeDaemon({
      "POST /v1/images/build": (req: http.IncomingMessage, res: http.ServerResponse) => {
        seen.url = new URL(req.url ?? "/", "http://x");
        seen.contentType = req.headers["content-type"];
        void readTar(req).then((entries) => {
          seen.entries = entries;
          res.writeHead(200, { "content-type": "application/x-ndjson" });
          res.end(lines.map(line).join(""));
        });
      },
    });
    return seen;
  }

  it("streams the context with the query, and hands over log lines and phases", async () => {
    const seen = await buildDaemon([
      { type: "progress", message: "receiving the context" },
      { type: "log", data: "#1 [internal] load build definition\n" },
      { type: "progress", message: "saving the image" },
      { type: "done", image: IMAGE },
    ]);
    const root = await tree({ "Dockerfile.prod": "FROM scratch\n", "app.js": "1" });
    const logs: string[] = [];
    const phases: string[] = [];
    const image = await new Images({ url: daemon!.url, token: "t" }).build({
      name: "app:1",
      context: root,
      dockerfile: "Dockerfile.prod",
      target: "runtime",
      buildArgs: { A: "1", B: "x=y z" },
      runtime: "runsc",
      onLog: (t) => logs.push(t),
      onProgress: (m) => phases.push(m),
    });
    expect(image).toMatchObject(IMAGE);
    expect(logs).toEqual(["#1 [internal] load build definition\n"]);
    expect(phases).toEqual(["receiving the context", "saving the image"]);
    expect(seen.contentType).toBe("application/x-tar");
    const q = seen.url!.searchParams;
    expect(q.get("name")).toBe("app:1");
    expect(q.get("dockerfile")).toBe("Dockerfile.prod");
    expect(q.get("target")).toBe("runtime");
    expect(q.get("runtime")).toBe("runsc");
    expect(q.getAll("buildArg")).toEqual(["A=1", "B=x=y z"]);
    expect(Object.keys(seen.entries!).sort()).toEqual(["Dockerfile.prod", "app.js"]);
  });

  it("an error line is thrown as its code's error class", async () => {
    await buildDaemon([
      { type: "log", data: "RUN false\n" },
      { type: "error", error: { code: "image_build_failed", message: "step 2 failed" } },
    ]);
    const root = await tree({ Dockerfile: "FROM scratch\n" });
    const err = await failure(
      new Images({ url: daemon!.url, token: "t" }).build({ name: "app", context: root }),
    );
    expect(err).toBeInstanceOf(ImageBuildFailedError);
    expect(err).toMatchObject({ code: "image_build_failed", status: 500 });
    expect(err.message).toBe("step 2 failed");
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["a bad name", { name: "App Latest" }, /build\.name/],
    ["no context", { context: "" }, /build\.context/],
    ["a bad build arg name", { buildArgs: { "A=B": "c" } }, /build\.buildArgs/],
    ["a bad target", { target: "-x" }, /target/],
    ["an unknown runtime", { runtime: "kata" }, /runtime/],
    ["an unknown option", { tag: "x" }, /tag/],
    ["a missing context", { context: "/no/such/dir" }, /does not exist/],
  ])("%s is refused before any request", async (_what, change, message) => {
    const seen = await buildDaemon([]);
    const root = await tree({ Dockerfile: "FROM scratch\n" });
    const options = { name: "app", context: root, ...change };
    const err = await failure(
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      new Images({ url: daemon!.url, token: "t" }).build(options as any),
    );
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toMatch(message);
    expect(seen.url, "no request may be sent").toBeUndefined();
  });
});
