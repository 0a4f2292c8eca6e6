import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { sandboxRuntimeFlags } from "../../packages/daemon/src/runtimes/index.js";

/** Mount points at or below `dir`, from the host's mount table. */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Attached loop devices and the files behind them (a sandbox's disk while it is mounted). */
export function loopDevices(): { dev: string; backing: string }[] {
  const found: { dev: string; backing: string }[] = [];
  for (const dev of readdirSync("/sys/block").filter((d) => d.startsWith("loop"))) {
    try {
      const backing = readFileSync(`/sys/block/${dev}/loop/backing_file`, "utf8").trim();
      found.push({ dev, backing });
    } catch {
      // not attached
    }
  }
  return found;
}

/** Container ids the runtime knows under the daemon's root for it. */
export function runtimeContainers(dataDir: string, runtime: "runc" | "runsc"): string[] {
  const out = execFileSync(
    runtime,
    ["--root", path.join(dataDir, "state", runtime), "list", "--format", "json"],
    {
      encoding: "utf8",
    },
  );
  return ((JSON.parse(out || "null") as { id: string }[] | null) ?? []).map((c) => c.id);
}

/** True when any cgroup controller still has a directory for the sandbox. */
export function cgroupExists(id: string): boolean {
  return ["memory", "pids", "cpu"].some((c) => existsSync(`/sys/fs/cgroup/${c}/paddock/${id}`));
}

/** Everything the issue says terminate must leave behind: nothing. */
export function leftovers(dataDir: string, runtime: "runc" | "runsc", id: string): string[] {
  const found: string[] = [];
  const dir = path.join(dataDir, "sandboxes", id);
  if (existsSync(dir)) found.push(`directory ${dir}`);
  for (const m of mountsUnder(dir)) found.push(`mount ${m}`);
  for (const { dev, backing } of loopDevices())
    if (backing.startsWith(`${dir}/`)) found.push(`loop device ${dev} on ${backing}`);
  if (runtimeContainers(dataDir, runtime).includes(id)) found.push(`${runtime} container ${id}`);
  if (cgroupExists(id)) found.push(`cgroup paddock/${id}`);
  return found;
}

/** runc/runsc exec straight through the runtime, to act inside a sandbox without Paddock's API. */
export function runtimeExec(
  dataDir: string,
  runtime: "runc" | "runsc",
  id: string,
  argv: string[],
): string {
  const global = sandboxRuntimeFlags(dataDir, runtime, id);
  return execFileSync(runtime, [...global, "exec", id, ...argv], { encoding: "utf8" });
}

/** Runs argv in the namespace bound at `netns` (the root namespace when undefined). */
function inNetns(netns: string | undefined, argv: string[]): string {
  const [file, ...args] = netns ? ["nsenter", `--net=${netns}`, ...argv] : argv;
  return execFileSync(file!, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Names under /run/netns (what `ip netns add` made) starting with `prefix`. */
export function netnsNamed(prefix: string): string[] {
  return existsSync("/run/netns")
    ? readdirSync("/run/netns").filter((n) => n.startsWith(prefix))
    : [];
}

/** Links in the namespace whose names start with `prefix` (`pd-`: sandboxes' host ends). */
export function linksNamed(prefix: string, netns?: string): string[] {
  const links = JSON.parse(inNetns(netns, ["ip", "-j", "link", "show"]) || "[]") as {
    ifname: string;
  }[];
  return links.map((l) => l.ifname).filter((n) => n.startsWith(prefix));
}

/** The sandbox chains (`sb_*`) of the `inet paddock` table in the namespace; none without it. */
export function sandboxChains(netns?: string): string[] {
  let out: string;
  try {
    out = inNetns(netns, ["nft", "-j", "list", "table", "inet", "paddock"]);
  } catch {
    return []; // no table (or no nft): no chains
  }
  const items = (JSON.parse(out) as { nftables: { chain?: { name: string } }[] }).nftables;
  return items.flatMap((i) => (i.chain?.name.startsWith("sb_") ? [i.chain.name] : []));
}

/**
 * What sandbox networking left in a namespace (the daemon's router: `netns`, else the root) and
 * in /run/netns: the sandbox's namespace, host-end link and chain when `id` is given, all of
 * them otherwise.
 */
export function networkLeftovers(netns?: string, id?: string): string[] {
  const mine = (name: string) => !id || name.includes(id.slice(3, 15));
  return [
    ...netnsNamed("paddock-sb_")
      .filter(mine)
      .map((n) => `network namespace ${n}`),
    ...linksNamed("pd-", netns)
      .filter(mine)
      .map((l) => `link ${l}`),
    ...sandboxChains(netns)
      .filter(mine)
      .map((c) => `nft chain inet paddock ${c}`),
  ];
}
