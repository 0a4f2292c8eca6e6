import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repo root, found upward from this file: it runs as a bundle in bench/.out/, from any cwd. */
function findRepo(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "packages/cli/package.json"))) {
    if (dir === path.dirname(dir)) throw new Error("cannot find the Paddock repo above this file");
    dir = path.dirname(dir);
  }
  return dir;
}

export const REPO = findRepo();
export const CLI = path.join(REPO, "packages/cli/dist/main.js");
export const IMAGES_DIR = process.env.PADDOCK_BENCH_IMAGES_DIR ?? "/var/tmp/paddock-test-images";

/** Where a benchmark writes its JSON: bench/results/<name>.json. */
export const resultsFile = (name: string) => path.join(REPO, "bench/results", `${name}.json`);
