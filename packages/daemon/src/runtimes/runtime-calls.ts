import { readFile, readdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/** Runtime commands that go on after the daemon that started them has died. */
const LASTING_VERBS = new Set(["checkpoint", "restore", "delete", "pause", "resume"]);

/**
 * Waits (at most `timeoutMs`) until no runtime command for container `id` that changes its
 * state is running on the host: a daemon killed mid-pause leaves its `runsc checkpoint` going,
 * and what the container becomes is known only once it is done.
 */
export async function waitForRuntimeCalls(id: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await runtimeCallsFor(id)) > 0 && Date.now() < deadline) await sleep(100);
}

async function runtimeCallsFor(id: string): Promise<number> {
  let count = 0;
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (!/(^|\/)(runsc|runc)$/.test(argv[0] ?? "")) continue;
    if (argv.includes(id) && argv.some((a) => LASTING_VERBS.has(a))) count++;
  }
  return count;
}
