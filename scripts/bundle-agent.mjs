// Bundles the agent into one file: it is bind-mounted read-only into every sandbox and run by
// the host's node, so it can depend on nothing inside the image.
import { build } from "esbuild";

await build({
  entryPoints: ["packages/agent/src/main.ts"],
  outfile: "packages/agent/dist/agent.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minify: false,
  sourcemap: false,
  logLevel: "warning",
});
