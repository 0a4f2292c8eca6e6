// Steps after `tsc -b`: bundle the agent and make the CLI executable.
import { chmod } from "node:fs/promises";
import { build } from "esbuild";

// The agent is bind-mounted read-only into every sandbox and run by the host's node, so it is
// one file that depends on nothing inside the image.
await build({
  entryPoints: ["packages/agent/src/main.ts"],
  outfile: "packages/agent/dist/agent.js",
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

// npm links the bin before the first build exists, so it cannot set the mode itself.
await chmod("packages/cli/dist/main.js", 0o755);
