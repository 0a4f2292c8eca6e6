import { MIN_DNS_SECONDS } from "./firewall.js";
import type { SortedPolicy } from "./policy.js";

/** Addresses remembered per sandbox; past this the memory starts over (learning again is safe). */
const MAX_REMEMBERED = 4096;

/**
 * What one sandbox's firewall already lets through from DNS answers, and until when. Each
 * learn is an nft run (about 100 ms); an answer that gives addresses again skips it while the
 * firewall keeps them past the time the client may keep the new answer (its TTL). Forgotten
 * when the sandbox's policy changes: an update empties the firewall's learnt addresses.
 */
export class LearntAddresses {
  private policy: SortedPolicy | undefined;
  private readonly until = new Map<string, number>();

  /** Of `addresses`, answered now (`nowMs`) with `ttlSeconds`, those the firewall must learn. */
  missing(policy: SortedPolicy, addresses: string[], ttlSeconds: number, nowMs: number): string[] {
    if (policy !== this.policy) {
      this.until.clear();
      this.policy = policy;
    }
    return addresses.filter((a) => (this.until.get(a) ?? 0) < nowMs + ttlSeconds * 1000);
  }

  /** The firewall took `addresses` after `sinceMs`: it keeps each max(ttl, 60 s) from then on. */
  learnt(addresses: string[], ttlSeconds: number, sinceMs: number): void {
    if (this.until.size + addresses.length > MAX_REMEMBERED) this.until.clear();
    const until = sinceMs + Math.max(ttlSeconds, MIN_DNS_SECONDS) * 1000;
    for (const a of addresses) this.until.set(a, until);
  }
}
