/**
 * The host-side names of a sandbox's network, all derived from its id (which the daemon made:
 * `sb_` and lower-case letters and digits). Every name that reaches `ip` or `nft` passes
 * through here, so a malformed id can never become part of a command.
 */
const SANDBOX_ID = /^sb_[a-z0-9]{1,40}$/;

function checked(id: string): string {
  if (!SANDBOX_ID.test(id)) throw new Error(`not a sandbox id: ${JSON.stringify(id)}`);
  return id;
}

/** Prefixes that mark what the daemon made, for reconcile to find leftovers. */
export const NETNS_PREFIX = "paddock-";
export const LINK_PREFIX = "pd-";

/** The sandbox's network namespace, as `ip netns` names it. */
export function netnsName(id: string): string {
  return `${NETNS_PREFIX}${checked(id)}`;
}

/** Where `ip netns add` binds the namespace: what runc's spec and runsc's nsenter join. */
export function netnsPath(id: string): string {
  return `/run/netns/${netnsName(id)}`;
}

/**
 * The host end of the sandbox's veth pair (in the router namespace): `pd-` and 12 characters
 * of the id, within the kernel's 15-character limit on interface names.
 */
export function hostLink(id: string): string {
  return `${LINK_PREFIX}${checked(id).slice(3, 15)}`;
}

/** The sandbox's chain in the `inet paddock` table, and the prefix of its sets: the id itself. */
export function chainName(id: string): string {
  return checked(id);
}

/** The sandbox id a leftover namespace name belongs to, or undefined if it is not the daemon's. */
export function idOfNetns(name: string): string | undefined {
  const id = name.startsWith(NETNS_PREFIX) ? name.slice(NETNS_PREFIX.length) : "";
  return SANDBOX_ID.test(id) ? id : undefined;
}

export function isSandboxId(name: string): boolean {
  return SANDBOX_ID.test(name);
}
