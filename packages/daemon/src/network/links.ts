import { readdir } from "node:fs/promises";
import { CommandError } from "../exec.js";
import type { Lease } from "./address-pool.js";
import type { HostCommands } from "./host-commands.js";
import { hostLink, LINK_PREFIX, netnsName } from "./names.js";

/**
 * A sandbox's network namespace and veth pair, made with iproute2 in two processes (each a
 * batch): in the router namespace, the sandbox's namespace (`ip netns add` binds it under
 * /run/netns, which nsenter --net leaves as it is) and the veth pair, whose host end stays
 * there and whose peer goes into the sandbox's namespace as `eth0`; then, inside, loopback,
 * the address and the default route. `namespaceExists`: the namespace is there (a running
 * sandbox whose link was lost), only the pair is made. No IPv6 address on either end (`addrgenmode none`: not
 * even a link-local one).
 */
export async function makeLinks(
  cmd: HostCommands,
  id: string,
  lease: Lease,
  options: { namespaceExists: boolean },
): Promise<void> {
  const ns = netnsName(id);
  const link = hostLink(id);
  await cmd.router(
    ["ip", "-batch", "-"],
    lines(
      ...(options.namespaceExists ? [] : [`netns add ${ns}`]),
      `link add ${link} type veth peer name eth0 netns ${ns}`,
      `link set dev ${link} addrgenmode none`,
      `addr add ${lease.router}/30 dev ${link}`,
      `link set dev ${link} up`,
    ),
  );
  await cmd.host(
    ["ip", "-n", ns, "-batch", "-"],
    lines(
      "link set dev lo up",
      "link set dev eth0 addrgenmode none",
      `addr add ${lease.sandbox}/30 dev eth0`,
      "link set dev eth0 up",
      `route add default via ${lease.router} dev eth0`,
    ),
  );
}

/**
 * Removes the veth pair (deleting one end deletes both) and the namespace's name; whatever is
 * already gone is not an error. The namespace itself goes with its last process.
 */
export async function removeLinks(cmd: HostCommands, id: string): Promise<void> {
  await cmd
    .router(
      ["ip", "-force", "-batch", "-"],
      lines(`link del ${hostLink(id)}`, `netns del ${netnsName(id)}`),
    )
    .catch((err: unknown) => {
      if (!(err instanceof CommandError) || !onlyMissing(err.stderr)) throw err;
    });
}

/** True when every error iproute2 printed says that the thing was not there. */
function onlyMissing(stderr: string): boolean {
  const errors = stderr.split("\n").filter((l) => l.trim() && !/^Command failed/.test(l));
  return errors.every((l) =>
    /Cannot find device|No such file or directory|does not exist/i.test(l),
  );
}

/** Names of the host ends (`pd-*`) in the router namespace. */
export async function hostLinks(cmd: HostCommands): Promise<string[]> {
  const out = await cmd.router(["ip", "-j", "link", "show"]);
  const parsed = JSON.parse(out || "[]") as { ifname?: unknown }[];
  return parsed
    .map((l) => (typeof l.ifname === "string" ? l.ifname : ""))
    .filter((n) => n.startsWith(LINK_PREFIX));
}

/** Whether the router namespace has the sandbox's host end. */
export async function hasHostLink(cmd: HostCommands, id: string): Promise<boolean> {
  return (await hostLinks(cmd)).includes(hostLink(id));
}

/** Names of the namespaces bound under /run/netns. */
export async function namespaceNames(): Promise<string[]> {
  return readdir("/run/netns").catch(() => []);
}

/** Deletes a host end left behind; already gone is fine. */
export async function removeHostLink(cmd: HostCommands, link: string): Promise<void> {
  await cmd.router(["ip", "link", "del", link]).catch((err: unknown) => {
    if (!(err instanceof CommandError) || !onlyMissing(err.stderr)) throw err;
  });
}

const lines = (...l: string[]) => `${l.join("\n")}\n`;
