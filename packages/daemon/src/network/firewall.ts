import { isIPv4 } from "node:net";
import type { NetworkPolicy } from "@paddock/protocol";
import { sortPolicy } from "./policy.js";
import { chainName, hostLink, LINK_PREFIX } from "./names.js";

/**
 * The nftables scripts of sandbox networking, fed to `nft -f -` (one script, one atomic
 * transaction). Every address in them went through `cidr4` below and every name through
 * names.ts: nothing else reaches nft, and domain names never do.
 *
 * One table, `inet paddock`, in the router namespace:
 * - `forward`: return traffic of established flows passes; sandbox to sandbox is dropped;
 *   IPv6 from sandboxes is dropped; a packet from a sandbox's host end jumps to that sandbox's
 *   chain (the `sandboxes` verdict map); anything else from or to a `pd-*` link is dropped
 *   (a spare's host end, say, which has no entry until a sandbox takes it and its chain is made).
 * - `input`: sandboxes reach nothing of the router itself (the host's services, the daemon's
 *   port), save replies to what the router opened.
 * - `postrouting`: the pool is masqueraded on its way out.
 * - a chain per sandbox, named by its id, with its sets `<id>_allow4`, `<id>_deny4` and
 *   `<id>_dns4` (addresses DNS answers gave for allowed names, each with a timeout).
 */
export const TABLE = "inet paddock";

/** Always refused (unless the operator opts a range in): private, loopback, link-local, multicast. */
export const PRIVATE_RANGES4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.168.0.0/16",
  // Multicast, and 240.0.0.0/4 holds the broadcast address 255.255.255.255.
  "224.0.0.0/4",
  "240.0.0.0/4",
];

/** A shortest dns4 lifetime: clients may connect a while after the answer, whatever its TTL. */
export const MIN_DNS_SECONDS = 60;
const MAX_DNS_SECONDS = 24 * 3600;

/** An IPv4 address or CIDR, checked and with its host bits as given; throws on anything else. */
export function cidr4(entry: string): string {
  const [address, prefix, ...rest] = entry.split("/");
  const ok =
    rest.length === 0 &&
    isIPv4(address ?? "") &&
    (prefix === undefined || (/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32));
  if (!ok) throw new Error(`not an IPv4 address or CIDR: ${JSON.stringify(entry)}`);
  return entry;
}

const elements = (entries: readonly string[]) => entries.map(cidr4).join(", ");

function fill(set: string, entries: readonly string[]): string[] {
  return [
    `flush set ${TABLE} ${set}`,
    ...(entries.length ? [`add element ${TABLE} ${set} { ${elements(entries)} }`] : []),
  ];
}

export interface FirewallSettings {
  /** The pool (other sandboxes) and any address of the router: refused whatever the operator says. */
  refused: string[];
  /** Ranges the operator took out of PRIVATE_RANGES4 (`--network-allow-private`). */
  allowPrivate: string[];
  /** The pool: masqueraded on its way out. */
  pool: string;
}

const INTERVAL = "type ipv4_addr; flags interval; auto-merge;";
const SANDBOX_MAP = "type ifname : verdict;";

/**
 * The table and its shared chains and sets, made again from scratch (base chains flushed,
 * sandbox chains untouched). Idempotent.
 */
export function baseScript(settings: FirewallSettings): string[] {
  const pd = `"${LINK_PREFIX}*"`;
  return [
    `add table ${TABLE}`,
    `add set ${TABLE} refused4 { ${INTERVAL} }`,
    `add set ${TABLE} private4 { ${INTERVAL} }`,
    `add set ${TABLE} allowprivate4 { ${INTERVAL} }`,
    `add map ${TABLE} sandboxes { ${SANDBOX_MAP} }`,
    `add chain ${TABLE} forward { type filter hook forward priority 0; policy accept; }`,
    `add chain ${TABLE} input { type filter hook input priority 0; policy accept; }`,
    `add chain ${TABLE} postrouting { type nat hook postrouting priority 100; policy accept; }`,
    `flush chain ${TABLE} forward`,
    `flush chain ${TABLE} input`,
    `flush chain ${TABLE} postrouting`,
    ...fill("refused4", settings.refused),
    ...fill("private4", PRIVATE_RANGES4),
    ...fill("allowprivate4", settings.allowPrivate),
    `add rule ${TABLE} forward ct state established,related accept`,
    `add rule ${TABLE} forward iifname ${pd} oifname ${pd} drop`,
    `add rule ${TABLE} forward iifname ${pd} meta nfproto ipv6 drop`,
    `add rule ${TABLE} forward iifname vmap @sandboxes`,
    `add rule ${TABLE} forward iifname ${pd} drop`,
    // Nobody opens connections into a sandbox (its exposed ports go through the agent).
    `add rule ${TABLE} forward oifname ${pd} drop`,
    `add rule ${TABLE} input iifname ${pd} ct state established,related accept`,
    `add rule ${TABLE} input iifname ${pd} drop`,
    `add rule ${TABLE} postrouting ip saddr ${cidr4(settings.pool)} oifname != ${pd} masquerade`,
  ];
}

/** Creates the sandbox's chain and sets if missing (a no-op when they exist). */
function ensureSandbox(id: string): string[] {
  const c = chainName(id);
  return [
    `add chain ${TABLE} ${c}`,
    `add set ${TABLE} ${c}_allow4 { ${INTERVAL} }`,
    `add set ${TABLE} ${c}_deny4 { ${INTERVAL} }`,
    `add set ${TABLE} ${c}_dns4 { type ipv4_addr; flags timeout; }`,
  ];
}

/**
 * The sandbox's chain and sets made to follow `policy`, and its host end (the veth of its
 * `address`) pointed at them. `keepDns`: keep the addresses DNS gave (reconcile); an update
 * forgets them, since names that were allowed may not be any more.
 */
export function sandboxScript(
  id: string,
  address: string,
  policy: NetworkPolicy,
  options: { keepDns: boolean },
): string[] {
  const c = chainName(id);
  const sorted = sortPolicy(policy);
  const rule = (text: string) => `add rule ${TABLE} ${c} ${text}`;
  const verdict =
    policy.egress === "all"
      ? [rule("accept")]
      : policy.egress === "allowlist"
        ? [rule(`ip daddr @${c}_allow4 accept`), rule(`ip daddr @${c}_dns4 accept`), rule("drop")]
        : [rule("drop")];
  return [
    ...ensureSandbox(id),
    `flush chain ${TABLE} ${c}`,
    ...fill(`${c}_allow4`, sorted.allow.v4),
    ...fill(`${c}_deny4`, sorted.deny.v4),
    ...(options.keepDns ? [] : [`flush set ${TABLE} ${c}_dns4`]),
    // Only IPv4 reaches here (the forward chain drops IPv6 first); refusals before any accept.
    rule("ip daddr @refused4 drop"),
    rule("ip daddr @private4 ip daddr != @allowprivate4 drop"),
    rule(`ip daddr @${c}_deny4 drop`),
    ...verdict,
    `add element ${TABLE} sandboxes { "${hostLink(address)}" : jump ${c} }`,
  ];
}

/**
 * Removes the sandbox's chain and sets, and the map entry of the host end of `address` (which
 * points at the chain; without an address, the map must hold none, see forgetSandboxesScript).
 * Each is made first if missing, so the one transaction succeeds whatever is left (nft 1.0.6
 * has no "delete if it exists").
 */
export function removeSandboxScript(id: string, address: string | undefined): string[] {
  const c = chainName(id);
  const link = address && `"${hostLink(address)}"`;
  return [
    // Whatever state the table is in (even none, after a reboot), this script applies.
    `add table ${TABLE}`,
    `add map ${TABLE} sandboxes { ${SANDBOX_MAP} }`,
    ...ensureSandbox(id),
    ...(link
      ? [
          `add element ${TABLE} sandboxes { ${link} : jump ${c} }`,
          `delete element ${TABLE} sandboxes { ${link} }`,
        ]
      : []),
    `flush chain ${TABLE} ${c}`,
    `delete chain ${TABLE} ${c}`,
    `delete set ${TABLE} ${c}_allow4`,
    `delete set ${TABLE} ${c}_deny4`,
    `delete set ${TABLE} ${c}_dns4`,
  ];
}

/**
 * Empties the map from host ends to sandbox chains, so that any chain can be removed; in the
 * same transaction, sandboxScript puts back the entries of the sandboxes that stay.
 */
export function forgetSandboxesScript(): string[] {
  return [`flush map ${TABLE} sandboxes`];
}

/**
 * Adds `addresses` to the sandbox's dns4 set for max(ttl, 60 s). Adding an element that exists
 * keeps its old timeout, so each is added, deleted and added again: its timeout is renewed.
 */
export function learnScript(
  id: string,
  addresses: readonly string[],
  ttlSeconds: number,
): string[] {
  const set = `${TABLE} ${chainName(id)}_dns4`;
  const seconds = Math.min(MAX_DNS_SECONDS, Math.max(MIN_DNS_SECONDS, Math.ceil(ttlSeconds)));
  const plain = elements(addresses);
  const timed = addresses.map((a) => `${cidr4(a)} timeout ${seconds}s`).join(", ");
  return [
    `add element ${set} { ${timed} }`,
    `delete element ${set} { ${plain} }`,
    `add element ${set} { ${timed} }`,
  ];
}
