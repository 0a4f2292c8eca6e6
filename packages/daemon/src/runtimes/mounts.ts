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

/**
 * Mounts `source` read-only at `target`. The host side is read-only too, so a write that slips
 * through a runtime's own read-only check (gVisor let open(O_TRUNC) through) still fails.
 */
export async function mountReadOnlyBind(source: string, target: string): Promise<void> {
  await run("mount", ["--bind", source, target]);
  await run("mount", ["-o", "remount,bind,ro,nosuid,nodev", target]);
}

/**
 * The sandbox's socket directory: a tmpfs of a few KiB that holds the agent's socket and
 * nothing else (writes there would bypass the disk quota), no devices, no programs.
 */
export async function mountSocketDir(target: string): Promise<void> {
  await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    "size=16k,nr_inodes=16,mode=0700,nosuid,nodev,noexec",
    "paddock-sock",
    target,
  ]);
}

/**
 * Makes the socket directory read-only once the agent listens: connecting to the socket still
 * works, but nothing (no API call raced by a symlink, no process inside) can create, change or
 * remove anything there any more.
 */
export async function sealSocketDir(target: string): Promise<void> {
  await run("mount", ["-o", "remount,ro", target]);
}

/** Makes the socket directory writable again, for an agent that must bind its socket anew. */
export async function unsealSocketDir(target: string): Promise<void> {
  await run("mount", ["-o", "remount,rw", target]);
}

/**
 * Copies the tree `from` into the directory `to` as it is: owners, modes, times, links, devices
 * (overlay whiteouts) and extended attributes (opaque dirs). Both are daemon-made paths.
 */
export async function copyTree(from: string, to: string): Promise<void> {
  await run("cp", ["-a", "--reflink=auto", "--", `${from}/.`, to], { timeoutMs: 600_000 });
}

/** Unmounts everything at or below `dir`; after it, removing `dir` cannot reach another fs. */
export async function unmountAll(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    await run("umount", ["--lazy", point]);
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`still mounted under ${dir}: ${left.join(", ")}`);
}
