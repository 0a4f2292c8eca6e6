import { existsSync } from "node:fs";
import { leftSince, snapshot } from "./audit.js";
import { CLI } from "./paths.js";

/**
 * Integration tests drive the built CLI and daemon; fail early and clearly without a build.
 * After the whole suite, nothing Paddock made may be left on the machine: the audit compares
 * sandbox cgroups, agent and daemon processes, data dirs and mounts with what was there before.
 */
export default function setup(): () => void {
  if (process.getuid?.() !== 0)
    throw new Error("integration tests need root (they start real runc and runsc sandboxes)");
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const before = snapshot();
  return () => {
    const left = leftSince(before);
    if (left.length > 0)
      throw new Error(`the test suite left these behind:\n  ${left.join("\n  ")}`);
    process.stdout.write(
      "audit: the suite left no sandbox cgroup, agent, daemon, data dir or mount behind\n",
    );
  };
}
