import { existsSync } from "node:fs";
import { CLI } from "./paths.js";

/** Integration tests drive the built CLI and daemon; fail early and clearly without a build. */
export default function setup(): void {
  if (process.getuid?.() !== 0)
    throw new Error("integration tests need root (they start real runc and runsc sandboxes)");
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
}
