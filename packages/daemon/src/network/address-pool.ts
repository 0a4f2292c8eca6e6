import { isIPv4 } from "node:net";

/** The daemon's sandbox address pool: an IPv4 CIDR cut into /30s, one per sandbox. */
export interface AddressPool {
  /** The pool as configured, normalized (`10.123.0.0/16`). */
  cidr: string;
  base: number;
  prefix: number;
}

/** One sandbox's /30: the router's end (.1) and the sandbox's own address (.2). */
export interface Lease {
  router: string;
  sandbox: string;
}

export const DEFAULT_NETWORK_POOL = "10.123.0.0/16";

export function ipv4ToInt(address: string): number {
  return address.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/**
 * Parses the pool. Refused: anything but an IPv4 CIDR, and pools smaller than /29 (two
 * sandboxes). Host bits are cleared (`10.123.4.5/16` is `10.123.0.0/16`).
 */
export function parsePool(cidr: string): AddressPool {
  const [address, prefixText, ...rest] = cidr.trim().split("/");
  const prefix = Number(prefixText);
  if (rest.length > 0 || !address || !isIPv4(address) || !/^\d{1,2}$/.test(prefixText ?? "")) {
    throw new Error(
      `the network pool must be an IPv4 CIDR such as ${DEFAULT_NETWORK_POOL}, got "${cidr}"`,
    );
  }
  if (prefix > 29 || prefix < 8) {
    throw new Error(
      `the network pool ${cidr} must be from /8 to /29: each sandbox takes a /30, and a /29 holds two`,
    );
  }
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  const base = (ipv4ToInt(address) & mask) >>> 0;
  return { cidr: `${intToIpv4(base)}/${prefix}`, base, prefix };
}

/** Whether `address` lies in the pool. */
export function inPool(pool: AddressPool, address: string): boolean {
  if (!isIPv4(address)) return false;
  const n = ipv4ToInt(address);
  return n >= pool.base && n < pool.base + 2 ** (32 - pool.prefix);
}

/** The lease whose sandbox address is `address` (which must be a .2 of a /30 in the pool). */
export function leaseOf(pool: AddressPool, address: string): Lease | undefined {
  if (!inPool(pool, address) || ipv4ToInt(address) % 4 !== 2) return undefined;
  const n = ipv4ToInt(address);
  return { router: intToIpv4(n - 1), sandbox: address };
}

/**
 * The first /30 of the pool whose sandbox address is not in `used`; undefined when the pool is
 * full.
 */
export function freeLease(pool: AddressPool, used: ReadonlySet<string>): Lease | undefined {
  const slots = 2 ** (30 - pool.prefix);
  for (let i = 0; i < slots; i++) {
    const sandbox = intToIpv4(pool.base + 4 * i + 2);
    if (!used.has(sandbox)) return { router: intToIpv4(pool.base + 4 * i + 1), sandbox };
  }
  return undefined;
}
