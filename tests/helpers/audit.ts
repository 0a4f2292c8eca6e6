import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loopDevices } from "./host.js";
import { REGISTRY_BIN } from "./registry.js";

const CONTROLLERS = ["memory", "pids", "cpu", "cpuset", "devices", "freezer", "blkio"];

/**
 * What Paddock has on this machine now: sandbox cgroups, agent processes, test registries, test
 * data dirs, mounts, loop devices.
 */
export function snapshot(): Set<string> {
  const found = new Set<string>();
  for (const c of CONTROLLERS) {
    const dir = `/sys/fs/cgroup/${c}/paddock`;
    if (existsSync(dir))
      for (const e of readdirSync(dir))
        if (e.startsWith("sb_")) found.add(`cgroup ${c}/paddock/${e}`);
  }
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmdline.includes("/.paddock/runtime/agent.js")) found.add(`agent process ${pid}`);
      if (cmdline.startsWith(`${REGISTRY_BIN}\0serve`))
        found.add(`test registry process ${pid}: ${cmdline.replace(/\0/g, " ").slice(0, 120)}`);
      else if (cmdline.includes("paddock-test-"))
        found.add(`process ${pid}: ${cmdline.replace(/\0/g, " ").slice(0, 120)}`);
    } catch {
      // the process ended while we looked
    }
  }
  for (const e of readdirSync(tmpdir()))
    if (e.startsWith("paddock-test-")) found.add(`data dir ${path.join(tmpdir(), e)}`);
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const point = line.split(" ")[4] ?? "";
    if (point.includes("/paddock-test-")) found.add(`mount ${point}`);
  }
  for (const { dev, backing } of loopDevices())
    if (backing.includes("/paddock-test-")) found.add(`loop device ${dev}: ${backing}`);
  return found;
}

/** What exists now that did not before: what the suite left behind. */
export function leftSince(before: Set<string>): string[] {
  return [...snapshot()].filter((item) => !before.has(item));
}
