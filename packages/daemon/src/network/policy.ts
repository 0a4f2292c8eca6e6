import { isIP } from "node:net";
import type { NetworkPolicy } from "@paddock/protocol";

/** A policy's entries sorted by kind: what nftables matches (addresses) and what DNS does (names). */
export interface PolicyRules {
  /** IPv4 addresses and CIDRs (`1.2.3.4` is `1.2.3.4/32`). */
  v4: string[];
  /** IPv6 addresses and CIDRs. */
  v6: string[];
  /** Exact names, lower case, without a trailing dot. */
  names: string[];
  /** Wildcards as their suffix: `*.example.org` is `example.org` (names strictly below it). */
  suffixes: string[];
}

export interface SortedPolicy {
  egress: NetworkPolicy["egress"];
  allow: PolicyRules;
  deny: PolicyRules;
}

function sortRules(entries: readonly string[]): PolicyRules {
  const rules: PolicyRules = { v4: [], v6: [], names: [], suffixes: [] };
  for (const entry of entries) {
    const [address, prefix] = entry.split("/");
    const family = isIP(address ?? "");
    if (family === 4) rules.v4.push(prefix === undefined ? `${address}/32` : entry);
    else if (family === 6) rules.v6.push(prefix === undefined ? `${address}/128` : entry);
    else if (entry.startsWith("*.")) rules.suffixes.push(normalName(entry.slice(2)));
    else rules.names.push(normalName(entry));
  }
  return rules;
}

/** The policy's entries by kind (the protocol has already checked and lower-cased them). */
export function sortPolicy(policy: NetworkPolicy): SortedPolicy {
  return { egress: policy.egress, allow: sortRules(policy.allow), deny: sortRules(policy.deny) };
}

const normalName = (name: string) => name.toLowerCase().replace(/\.$/, "");

function matches(rules: PolicyRules, name: string): boolean {
  const n = normalName(name);
  return rules.names.includes(n) || rules.suffixes.some((s) => n.endsWith(`.${s}`));
}

/**
 * Whether a sandbox may resolve `name`: never with egress none; a name a deny rule matches
 * never; with an allowlist only names an allow rule matches. (Addresses are judged by the
 * firewall, whatever a name resolved to.)
 */
export function nameAllowed(policy: SortedPolicy, name: string): boolean {
  if (policy.egress === "none" || matches(policy.deny, name)) return false;
  return policy.egress === "all" || matches(policy.allow, name);
}
