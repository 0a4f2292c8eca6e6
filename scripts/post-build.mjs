// Steps after `tsc -b`: bundle the agent and make the CLI executable.
import { execFileSync } from "node:child_process";
import { chmod, rm } from "node:fs/promises";
import { build } from "esbuild";

// The agent is bind-mounted read-only into every sandbox and run by the host's node, so it is
// bundled whole and depends on nothing inside the image. The routes it loads after its first
// health answer go in a separate chunk beside it: parsing them at start cost ~50 ms of every
// sandbox create.
// Old chunks must not linger: the daemon copies every file of the bundle into sandboxes.
await rm("packages/agent/dist/bundle", { recursive: true, force: true });
await build({
  entryPoints: ["packages/agent/src/main.ts"],
  outdir: "packages/agent/dist/bundle",
  entryNames: "agent",
  chunkNames: "agent-[name]-[hash]",
  splitting: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // CommonJS dependencies (tar-stream's streamx) require Node builtins; an ESM bundle needs a
  // real `require` for that.
  banner: {
    js: 'import { createRequire as __paddockRequire } from "node:module"; const require = __paddockRequire(import.meta.url);',
  },
  logLevel: "warning",
});

// The agent's native helpers (see packages/agent/native): paddock-spawner starts processes
// with vfork, paddock-copy moves large uploads into files, paddock-init keeps the agent alive,
// paddock-watch reports a directory's changes (inotify).
// Static, so they run in any image.
for (const [source, name] of [
  ["spawner.c", "paddock-spawner"],
  ["copy.c", "paddock-copy"],
  ["init.c", "paddock-init"],
  ["watch.c", "paddock-watch"],
]) {
  execFileSync("gcc", [
    "-O2",
    "-static",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-o",
    `packages/agent/dist/bundle/${name}`,
    `packages/agent/native/${source}`,
  ]);
}

// The bin (packages/cli/bin/paddock.js) imports dist/main.js; keep main.js runnable directly too.
await chmod("packages/cli/dist/main.js", 0o755);
