import { readdir, readlink, symlink, unlink } from "node:fs/promises";
import path from "node:path";
import { CommandError } from "../exec.js";
import type { Lease } from "./address-pool.js";
import type { HostCommands } from "./host-commands.js";
import { addressNetnsName, hostLink, LINK_PREFIX, netnsName } from "./names.js";

/**
 * The network namespace and veth pair of a sandbox address, made with iproute2 in two
 * processes (each a batch): in the router namespace, the namespace (`ip netns add` binds it
 * under /run/netns, which nsenter --net leaves as it is) and the veth pair, whose host end
 * stays there and whose peer goes into the namespace as `eth0`; then, inside, loopback, the
 * address and the default route. No IPv6 address on either end (`addrgenmode none`: not even a
 * link-local one).
 *
 * `existingNetns`: the namespace is there under that name (a running sandbox whose link was
 * lost), only the pair is made.
 */
export async function makeLinks(
  cmd: HostCommands,
  lease: Lease,
  options: { existingNetns?: string } = {},
): Promise<void> {
  const ns = options.existingNetns ?? addressNetnsName(lease.sandbox);
  const link = hostLink(lease.sandbox);
  await cmd.router(
    ["ip", "-batch", "-"],
    lines(
      ...(options.existingNetns ? [] : [`netns add ${ns}`]),
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
 * Removes the veth pair of `address` (deleting one end deletes both) and its namespace's name,
 * and the sandbox's name `id` for its namespace; whatever is already gone is not an error.
 * The namespace itself goes with its last process.
 */
export async function removeLinks(
  cmd: HostCommands,
  netnsDir: string,
  names: { address?: string; id?: string },
): Promise<void> {
  const { address, id } = names;
  const script = address
    ? [`link del ${hostLink(address)}`, `netns del ${addressNetnsName(address)}`]
    : [];
  if (id) {
    // The link is only unlinked, never unmounted through: it might be stale and stand for an
    // address that another sandbox has by now. A namespace bound under the sandbox's own name
    // (by an earlier daemon) is unmounted.
    if ((await netnsOf(netnsDir, id)) === netnsName(id)) script.push(`netns del ${netnsName(id)}`);
    else
      await unlink(path.join(netnsDir, netnsName(id))).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
  }
  if (script.length === 0) return;
  await cmd.router(["ip", "-force", "-batch", "-"], lines(...script)).catch((err: unknown) => {
    if (!(err instanceof CommandError) || !onlyMissing(err.stderr)) throw err;
  });
}

/** Gives the sandbox `id` its name for the namespace of `address`: a link in `netnsDir`. */
export async function nameNetns(netnsDir: string, id: string, address: string): Promise<void> {
  const name = path.join(netnsDir, netnsName(id));
  // Relative: the link holds a name that names.ts made, and no path.
  await symlink(addressNetnsName(address), name).catch(async (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    await unlink(name);
    await symlink(addressNetnsName(address), name);
  });
}

/**
 * The name of the namespace the sandbox's name stands for: its address's (what the link
 * holds), its own (a namespace an earlier daemon bound under the sandbox's name), or
 * undefined when it has none.
 */
export async function netnsOf(netnsDir: string, id: string): Promise<string | undefined> {
  return readlink(path.join(netnsDir, netnsName(id))).then(
    (target) => path.basename(target),
    (err: NodeJS.ErrnoException) => (err.code === "EINVAL" ? netnsName(id) : undefined),
  );
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

/** Names in `netnsDir` (what `ip netns add` bound, and the sandboxes' links). */
export async function namespaceNames(netnsDir: string): Promise<string[]> {
  return readdir(netnsDir).catch(() => []);
}

/** Deletes a host end left behind; already gone is fine. */
export async function removeHostLink(cmd: HostCommands, link: string): Promise<void> {
  await cmd.router(["ip", "link", "del", link]).catch((err: unknown) => {
    if (!(err instanceof CommandError) || !onlyMissing(err.stderr)) throw err;
  });
}

const lines = (...l: string[]) => `${l.join("\n")}\n`;
