import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { Sandbox } from "paddock";

/** A build context directory `root/name` with these files (a value `-> target` makes a symlink). */
export async function writeContext(
  root: string,
  name: string,
  files: Record<string, string>,
): Promise<string> {
  const dir = path.join(root, name);
  for (const [file, text] of Object.entries(files)) {
    const full = path.join(dir, file);
    await mkdir(path.dirname(full), { recursive: true });
    if (text.startsWith("-> ")) await symlink(text.slice(3), full);
    else await writeFile(full, text);
  }
  return dir;
}

/** Builder sandboxes still running (the daemon removes each when its build ends). */
export async function runningBuilders(client: { url: string; token: string }) {
  return (await Sandbox.list({ ...client, state: "running" })).filter(
    (s) => s.labels["paddock.build"] !== undefined,
  );
}
