import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import {
  chmod,
  copyFile,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
} from "node:fs/promises";
import path from "node:path";
import { AGENT_LOADER_NAME } from "@paddock/protocol";
import { run } from "../exec.js";

const TINI = "/usr/bin/tini-static";
/** The agent's static native helpers, built into its bundle. */
const NATIVE_HELPERS = new Set([
  "paddock-spawner",
  "paddock-copy",
  "paddock-init",
  "paddock-watch",
]);
/**
 * Part of the dir's name: dirs made by an older daemon (which hard-linked the host's node and
 * libraries, so a write slipping through the runtime reached the host's own files) are not reused.
 */
const LAYOUT_VERSION = "copies-v2";

interface Sources {
  node: string;
  loader: string;
  libs: string[];
  tini: string;
  agent: string;
}

/** `ldd` lines name each library (`libc.so.6 => /lib/…`) and the loader (`/lib64/ld-linux…`). */
export function parseLdd(output: string): { loader: string; libs: string[] } {
  let loader: string | undefined;
  const libs: string[] = [];
  for (const line of output.split("\n")) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    if (arrow) libs.push(arrow[1]!);
    else {
      const bare = /^\s*(\/\S*ld-linux\S*)\s/.exec(line);
      if (bare) loader = bare[1];
    }
  }
  if (!loader) throw new Error("ldd output names no dynamic loader");
  return { loader, libs };
}

async function findSources(): Promise<Sources> {
  const node = await realpath(process.execPath);
  const { loader, libs } = parseLdd(await run("ldd", [node]));
  const agent = createRequire(import.meta.url).resolve("@paddock/agent/agent.js");
  return { node, loader, libs, tini: TINI, agent };
}

/**
 * A copy, never a hard link: a link would share its inode with the host's own node or libc, and
 * a write that slipped through into the sandbox's view would change the host's file.
 */
async function placeFile(src: string, dest: string): Promise<void> {
  await copyFile(await realpath(src), dest);
  await chmod(dest, 0o555);
}

/**
 * Builds (once per set of inputs) the directory every sandbox mounts read-only at
 * /.paddock/runtime: copies of the host's node, its libraries and loader, tini, and the agent
 * bundle. Each sandbox mounts it through its own read-only bind (mountReadOnlyBind).
 * Its name is a hash of the inputs, so a changed node or agent gets a new dir and running
 * sandboxes keep theirs.
 */
export async function ensureAgentRuntime(baseDir: string): Promise<string> {
  const src = await findSources();
  const hash = createHash("sha256").update(`${LAYOUT_VERSION}\n`);
  for (const file of [src.node, src.loader, ...src.libs, src.tini]) {
    const st = await stat(file);
    hash.update(`${file}:${st.size}:${st.mtimeMs}\n`);
  }
  const bundle = path.dirname(src.agent);
  const bundleFiles = (await readdir(bundle))
    .filter((f) => f.endsWith(".js") || NATIVE_HELPERS.has(f))
    .sort();
  for (const f of bundleFiles) hash.update(`${f}\n`).update(await readFile(path.join(bundle, f)));
  const dir = path.join(baseDir, hash.digest("hex").slice(0, 16));
  try {
    await stat(path.join(dir, "agent.js"));
    return dir;
  } catch {
    // not built yet
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.join(tmp, "lib"), { recursive: true });
  await placeFile(src.node, path.join(tmp, "node"));
  await placeFile(src.loader, path.join(tmp, AGENT_LOADER_NAME));
  for (const lib of src.libs) await placeFile(lib, path.join(tmp, "lib", path.basename(lib)));
  await placeFile(src.tini, path.join(tmp, "tini"));
  // The agent's entry (agent.js), the chunks it loads later and its process helper.
  for (const f of bundleFiles) await copyFile(path.join(bundle, f), path.join(tmp, f));
  try {
    await rename(tmp, dir);
  } catch (err) {
    // Another daemon built the same dir first: theirs is as good as ours.
    await rm(tmp, { recursive: true, force: true });
    await stat(path.join(dir, "agent.js")).catch(() => {
      throw err;
    });
  }
  return dir;
}
