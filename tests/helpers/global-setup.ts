import { existsSync } from "node:fs";
import { leftSince, snapshot } from "./audit.js";
import { linksNamed, netnsNamed, sandboxChains } from "./host.js";
import { CLI } from "./paths.js";

/**
 * Sandbox networking on this machine: namespaces of sandboxes (`paddock-*`) and of the tests'
 * own topology (`pdt-*`, tests/helpers/net.ts), and in the root namespace the sandboxes' host
 * ends (`pd-*`) and their chains in the `inet paddock` table (a daemon run without a test router).
 */
function networkSnapshot(): Set<string> {
  return new Set([
    ...netnsNamed("paddock-").map((n) => `network namespace ${n}`),
    ...netnsNamed("pdt-").map((n) => `test network namespace ${n}`),
    ...linksNamed("pd-").map((l) => `link ${l}`),
    ...sandboxChains().map((c) => `nft chain inet paddock ${c}`),
  ]);
}

/**
 * Integration tests drive the built CLI and daemon; fail early and clearly without a build.
 * After the whole suite, nothing Paddock made may be left on the machine: the audit compares
 * sandbox cgroups, agent and daemon processes, data dirs, mounts and sandbox networking with
 * what was there before.
 */
export default function setup(): () => void {
  if (process.getuid?.() !== 0)
    throw new Error("integration tests need root (they start real runc and runsc sandboxes)");
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const before = snapshot();
  const networkBefore = networkSnapshot();
  return () => {
    const left = [
      ...leftSince(before),
      ...[...networkSnapshot()].filter((item) => !networkBefore.has(item)),
    ];
    if (left.length > 0)
      throw new Error(`the test suite left these behind:\n  ${left.join("\n  ")}`);
    process.stdout.write(
      "audit: the suite left no sandbox cgroup, agent, daemon, data dir, mount, network namespace, link or nft chain behind\n",
    );
  };
}
