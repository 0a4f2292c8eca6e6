import { randomBytes } from "node:crypto";
import { lstat, readdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
// A CommonJS module whose types declare an ES default: its default export is `.default` here.
import dockerignoreModule from "@balena/dockerignore";
import { errnoOf, localError } from "./errors.js";
import { packLocal, type PackEntry } from "./local-files.js";
import { localFileError } from "./sources.js";

/** A build context ready to send: its tar, produced as it is read, and the Dockerfile's name in it. */
export interface PackedBuildContext {
  tar: Readable;
  /** The Dockerfile's path inside the tar, as the build is told. */
  dockerfile: string;
}

/**
 * Packs a local directory as `docker build` sends it. `.dockerignore` is applied as Docker does:
 * at the context's root, or BuildKit's `<Dockerfile>.dockerignore` beside the Dockerfile, which
 * takes its place. The Dockerfile and the ignore file in effect are always sent, even if the
 * rules exclude them. Symlinks are sent as symlinks, never followed, except the Dockerfile
 * itself, which is sent as the file it names (Docker resolves it too). A Dockerfile outside the
 * context goes into the tar under a generated name, `.dockerfile.<random>`, as Docker's CLI does.
 *
 * `dockerfile` is a path relative to the context, or absolute; default `Dockerfile`. Everything
 * local is checked here, before any request: a missing context or Dockerfile is an
 * InvalidRequestError. A file that fails while it is read fails the tar stream with one.
 */
export async function packBuildContext(
  contextDir: string,
  dockerfile = "Dockerfile",
): Promise<PackedBuildContext> {
  const root = path.resolve(contextDir);
  const st = await stat(root).catch((err: unknown) => {
    throw errnoOf(err) === "ENOENT"
      ? localError(
          "invalid_request",
          `the build context ${root} does not exist; give the directory the Dockerfile's COPY and ADD read from`,
          { localPath: root },
          err,
        )
      : localFileError(root, err);
  });
  if (!st.isDirectory())
    throw localError(
      "invalid_request",
      `the build context ${root} is not a directory; give the directory the Dockerfile's COPY and ADD read from`,
      { localPath: root },
    );

  const given = path.resolve(root, dockerfile);
  const where = path.isAbsolute(dockerfile)
    ? `"${dockerfile}"`
    : `"${dockerfile}" in the build context ${root}`;
  const real = await resolveDockerfile(given, where);
  const rel = path.relative(await realpath(root), real);
  const inside = isInside(rel);
  const name = inside ? posixName(rel) : `.dockerfile.${randomBytes(10).toString("hex")}`;

  // BuildKit: `<Dockerfile>.dockerignore` beside the Dockerfile replaces the context's own.
  const ignoreFile = await ignoreFileOf(root, given, name);
  const patterns = await readIgnoreFile(ignoreFile.local);
  // Docker's own rule: the Dockerfile and the ignore file are kept, as exceptions to the rules.
  const kept = [name, ignoreFile.name];
  const rules = dockerignoreModule.default().add([...patterns, ...kept.map((k) => `!${k}`)]);
  const exceptions = [...patterns.filter((p) => p.startsWith("!")), ...kept.map((k) => `!${k}`)]
    .map(cleanPattern)
    .filter((p) => p !== "");

  async function* entries(): AsyncGenerator<PackEntry> {
    // What lies outside the context is sent first, under its name in the tar.
    if (!inside) yield { name, source: real, mode: 0o644 };
    if (!isInside(path.relative(root, ignoreFile.local)))
      yield { name: ignoreFile.name, source: ignoreFile.local, mode: 0o644 };
    yield* walkContext(root, "", (relPath, isDir) => {
      if (!rules.ignores(relPath)) return "send";
      // An excluded directory is still walked when an exception may take something back in it:
      // Docker's test, an exception that starts with the directory's path.
      return isDir && exceptions.some((p) => `${p}/`.startsWith(`${relPath}/`)) ? "walk" : "skip";
    });
  }
  return { tar: packLocal(entries()), dockerfile: name };
}

/**
 * The ignore file in effect and its name in the tar: BuildKit's `<Dockerfile>.dockerignore` if
 * there is one (beside a Dockerfile outside the context: sent beside its generated name), else
 * the context's `.dockerignore`.
 */
async function ignoreFileOf(
  root: string,
  dockerfile: string,
  name: string,
): Promise<{ local: string; name: string }> {
  const own = `${dockerfile}.dockerignore`;
  if (!(await isFile(own)))
    return { local: path.join(root, ".dockerignore"), name: ".dockerignore" };
  const rel = path.relative(root, own);
  return { local: own, name: isInside(rel) ? posixName(rel) : `${name}.dockerignore` };
}

const isInside = (rel: string) => rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
const posixName = (rel: string) => rel.split(path.sep).join("/");

/** The Dockerfile's real path (a symlink is followed), checked to be a regular file. */
async function resolveDockerfile(given: string, where: string): Promise<string> {
  const real = await realpath(given).catch((err: unknown) => {
    throw errnoOf(err) === "ENOENT"
      ? localError(
          "invalid_request",
          `there is no Dockerfile at ${where}; give its path (dockerfile, or -f in the CLI)`,
          { localPath: given },
          err,
        )
      : localFileError(given, err);
  });
  if (!(await isFile(real)))
    throw localError("invalid_request", `the Dockerfile at ${where} is not a regular file`, {
      localPath: given,
    });
  return real;
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

/** The lines of an ignore file that are patterns, as Docker reads them; none if there is none. */
async function readIgnoreFile(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8").catch((err: unknown) => {
    if (errnoOf(err) === "ENOENT") return "";
    throw localFileError(file, err);
  });
  return text
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** An exception's pattern without its `!`, cleaned as Docker cleans it (no leading slash). */
function cleanPattern(pattern: string): string {
  const p = path.posix.normalize(pattern.slice(1).trim());
  return p === "." ? "" : p.replace(/^\/+/, "").replace(/\/+$/, "");
}

type Verdict = "send" | "walk" | "skip";

/**
 * Every path under `root` that `verdict` keeps, depth first in name order, with posix names;
 * symlinks are not followed. A directory that cannot be read is the caller's bad argument.
 */
async function* walkContext(
  root: string,
  rel: string,
  verdict: (rel: string, isDir: boolean) => Verdict,
): AsyncGenerator<PackEntry> {
  const dir = path.join(root, rel);
  const names = await readdir(dir).catch((err: unknown) => {
    throw localFileError(dir, err);
  });
  for (const child of names.sort()) {
    const childRel = rel ? `${rel}/${child}` : child;
    const full = path.join(root, childRel);
    const st = await lstat(full).catch((err: unknown) => {
      throw localFileError(full, err);
    });
    const v = verdict(childRel, st.isDirectory());
    if (v === "send") yield { name: childRel, source: full };
    if (v !== "skip" && st.isDirectory()) yield* walkContext(root, childRel, verdict);
  }
}
