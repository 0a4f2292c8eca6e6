import { isIPv4 } from "node:net";
import { ipv4ToInt } from "./address-pool.js";

/**
 * The host-side names of sandbox networking. A sandbox's network (namespace, veth pair) is
 * named by its address, since it may be made before the sandbox exists (a spare, see
 * spares.ts); the sandbox's own name for its namespace, `paddock-<id>`, is a symbolic link to
 * it, made when the sandbox takes it. Ids (which the daemon made: `sb_` and lower-case letters
 * and digits) and addresses reach `ip` and `nft` only through here, so neither can ever become
 * anything else in a command.
 */
const SANDBOX_ID = /^sb_[a-z0-9]{1,40}$/;

function checked(id: string): string {
  if (!SANDBOX_ID.test(id)) throw new Error(`not a sandbox id: ${JSON.stringify(id)}`);
  return id;
}

/** Prefixes that mark what the daemon made, for reconcile to find leftovers. */
export const NETNS_PREFIX = "paddock-";
export const LINK_PREFIX = "pd-";

/** Where `ip netns` keeps the names of namespaces. */
export const NETNS_DIR = "/run/netns";

/** The sandbox's name for its network namespace (a link to its address's namespace). */
export function netnsName(id: string): string {
  return `${NETNS_PREFIX}${checked(id)}`;
}

/** What runc's spec and runsc's nsenter join: the sandbox's name, under NETNS_DIR. */
export function netnsPath(id: string): string {
  return `${NETNS_DIR}/${netnsName(id)}`;
}

function checkedAddress(address: string): string {
  if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${JSON.stringify(address)}`);
  return address;
}

/** The namespace made for a sandbox address (`paddock-198.18.0.2`), as `ip netns` names it. */
export function addressNetnsName(address: string): string {
  return `${NETNS_PREFIX}${checkedAddress(address)}`;
}

/**
 * The host end of the veth pair of a sandbox address (in the router namespace): `pd-` and the
 * address in 8 hex digits, within the kernel's 15-character limit on interface names.
 */
export function hostLink(address: string): string {
  return `${LINK_PREFIX}${ipv4ToInt(checkedAddress(address)).toString(16).padStart(8, "0")}`;
}

/** The sandbox's chain in the `inet paddock` table, and the prefix of its sets: the id itself. */
export function chainName(id: string): string {
  return checked(id);
}

/** The address a namespace name was made for (`paddock-198.18.0.2`), or undefined. */
export function addressOfNetns(name: string): string | undefined {
  const address = name.startsWith(NETNS_PREFIX) ? name.slice(NETNS_PREFIX.length) : "";
  return isIPv4(address) ? address : undefined;
}

/** The sandbox id a leftover namespace name belongs to, or undefined if it is not the daemon's. */
export function idOfNetns(name: string): string | undefined {
  const id = name.startsWith(NETNS_PREFIX) ? name.slice(NETNS_PREFIX.length) : "";
  return SANDBOX_ID.test(id) ? id : undefined;
}

export function isSandboxId(name: string): boolean {
  return SANDBOX_ID.test(name);
}
