import { createReadStream } from "node:fs";
import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { createInterface } from "node:readline";
import picomatch from "picomatch";
import { FIND_LIMITS, type FindMatch } from "@paddock/protocol";
import { AgentError } from "../router.js";
import { atomicWrite } from "./atomic-write.js";
import { onPath } from "./errno.js";
import { realSandboxPath } from "./paths.js";

function compile(pattern: string, flags: string): RegExp {
  try {
    return new RegExp(pattern, flags);
  } catch (err) {
    throw new AgentError(
      "invalid_request",
      `pattern is not a valid regular expression: ${(err as Error).message}`,
    );
  }
}

/** Regular files under `root` (symlinks are not followed), with paths relative to it. */
async function* walkFiles(
  root: string,
  rel = "",
): AsyncGenerator<{ full: string; rel: string; size: number }> {
  const dir = path.posix.join(root, rel);
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    const childRel = rel ? `${rel}/${name}` : name;
    const full = path.posix.join(root, childRel);
    const st = await lstat(full).catch(() => undefined);
    if (st?.isDirectory()) yield* walkFiles(root, childRel);
    else if (st?.isFile()) yield { full, rel: childRel, size: st.size };
  }
}

/** Binary files (a NUL in the first 8 KiB) are skipped, as grep does. */
async function looksBinary(file: string): Promise<boolean> {
  const stream = createReadStream(file, { start: 0, end: 8191 });
  for await (const chunk of stream as AsyncIterable<Buffer>) if (chunk.includes(0)) return true;
  return false;
}

/** Lines matching `pattern` in the files under `root` (or `root` itself, if a file). */
export async function findInFiles(
  root: string,
  pattern: string,
  glob: string | undefined,
  maxMatches: number,
) {
  const regex = compile(pattern, "");
  const accept = glob ? picomatch(glob, { dot: true }) : () => true;
  const st = await onPath(root, () => lstat(root));
  const files = st.isFile()
    ? [{ full: root, rel: path.posix.basename(root), size: st.size }]
    : walkFiles(root);
  const matches: FindMatch[] = [];
  for await (const file of files) {
    // Files that cannot be read (/proc/self/mem, a socket) are skipped, as grep -s does.
    const skip =
      !accept(file.rel) ||
      file.size > FIND_LIMITS.fileBytes ||
      (await looksBinary(file.full).catch(() => true));
    if (skip) continue;
    const lines = createInterface({ input: createReadStream(file.full), crlfDelay: Infinity });
    let n = 0;
    try {
      for await (const line of lines) {
        n++;
        if (!regex.test(line)) continue;
        if (matches.length >= maxMatches) {
          lines.close();
          return { matches, truncated: true };
        }
        matches.push({ file: file.full, line: n, text: line.slice(0, FIND_LIMITS.lineLength) });
      }
    } catch {
      continue;
    }
  }
  return { matches, truncated: false };
}

/** Replaces every match of `pattern` in each file; each changed file is rewritten atomically. */
export async function replaceInFiles(
  paths: string[],
  pattern: string,
  replacement: string,
): Promise<string[]> {
  const regex = compile(pattern, "g");
  const changed: string[] = [];
  for (const raw of paths) {
    const p = realSandboxPath(raw);
    const st = await onPath(p, () => lstat(p));
    if (!st.isFile()) throw new AgentError("invalid_request", `${p} is not a regular file`);
    if (st.size > FIND_LIMITS.fileBytes)
      throw new AgentError("payload_too_large", `${p} is over ${FIND_LIMITS.fileBytes} bytes`);
    const before = await onPath(p, () => readFile(p, "utf8"));
    const after = before.replace(regex, replacement);
    if (after === before) continue;
    await atomicWrite(p, Readable.from([Buffer.from(after, "utf8")]), { parents: false });
    changed.push(p);
  }
  return changed;
}
