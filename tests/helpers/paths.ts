import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = path.join(REPO, "packages/cli/dist/main.js");
/** Shared by every test daemon so built-in images are built once per machine. */
export const TEST_IMAGES_DIR =
  process.env.PADDOCK_TEST_IMAGES_DIR ?? "/var/tmp/paddock-test-images";
export const RUNTIMES = ["runc", "runsc"] as const;
