import { readFile } from "node:fs/promises";
import { run } from "../exec.js";

/** Mount points at or below `dir`, deepest first, read from the kernel's own table. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  const points = info
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMountPath)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function mountOverlay(
  lower: string,
  upper: string,
  work: string,
  target: string,
): Promise<void> {
  await run("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
    target,
  ]);
}

/** Unmounts everything at or below `dir`; after it, removing `dir` cannot reach another fs. */
export async function unmountAll(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    await run("umount", ["--lazy", point]);
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`still mounted under ${dir}: ${left.join(", ")}`);
}
