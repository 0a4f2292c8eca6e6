import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** A reference (normalized, e.g. `docker.io/library/alpine:3`) and the digest it names here. */
export interface ImageRef {
  reference: string;
  digest: string;
}

/**
 * The references of pulled images: one file `<sha256 of the reference>.json` each, so a
 * reference changes by one atomic rename and daemons sharing the store never lose an update.
 */
export class ImageRefs {
  constructor(readonly dir: string) {}

  get(reference: string): Promise<ImageRef | undefined> {
    return readJson(this.file(reference));
  }

  async set(reference: string, digest: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.file(reference);
    const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(tmp, JSON.stringify({ reference, digest } satisfies ImageRef));
    await rename(tmp, file);
  }

  async delete(reference: string): Promise<void> {
    await rm(this.file(reference), { force: true });
  }

  async all(): Promise<ImageRef[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const refs = await Promise.all(
      names
        .filter((n) => n.endsWith(".json"))
        .map((n) => readJson<ImageRef>(path.join(this.dir, n))),
    );
    return refs.filter((r): r is ImageRef => r !== undefined);
  }

  private file(reference: string): string {
    return path.join(this.dir, `${createHash("sha256").update(reference).digest("hex")}.json`);
  }
}

/** A JSON file's content, or undefined when it is missing or not JSON. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}
