import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Lease } from "./address-pool.js";

/** How many spares a daemon keeps ready once a sandbox had a network. */
export const DEFAULT_SPARES = 2;

export interface SpareOptions {
  /** How many to keep ready; 0: none, every network is made at create. */
  size: number;
  /** A free address of the pool, or undefined when the pool is full. */
  reserve(): Lease | undefined;
  /** Makes the namespace and veth pair of `lease` (in the background). */
  make(lease: Lease): Promise<void>;
  /** Removes what make made, whatever part of it exists. */
  remove(lease: Lease): Promise<void>;
  log: Logger;
}

/**
 * Network namespaces made ahead of time, with their veth pair and addresses, each taken whole
 * by one sandbox's create (which then only writes its rules). A namespace is never used twice:
 * what a sandbox did in it goes with it. Spares are made one at a time, once the create that
 * took one is over (NetworkService.replenish); they reach nothing, since a host end without an
 * entry in the sandbox map is dropped (firewall.ts). The daemon removes them when it stops, and
 * reconcile removes those a killed daemon left (they are named by an address of its pool).
 */
export class Spares {
  private readonly ready: Lease[] = [];
  private making: Lease | undefined;
  private filling: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: SpareOptions) {}

  /** A ready spare, now the caller's; undefined when none is ready. */
  take(): Lease | undefined {
    return this.ready.shift();
  }

  /** The addresses spares hold, ready or being made: not free for anything else. */
  held(): Lease[] {
    return this.making ? [...this.ready, this.making] : [...this.ready];
  }

  /** Makes spares in the background until `size` are ready (or the pool is full). */
  fill(): void {
    if (this.closed || this.filling || this.ready.length >= this.options.size) return;
    this.filling = this.makeSpares().finally(() => (this.filling = undefined));
  }

  /** Waits until no spare is being made: each is then ready or removed. */
  async settled(): Promise<void> {
    await this.filling;
  }

  /** Stops making spares and removes those ready. */
  async close(): Promise<void> {
    this.closed = true;
    await this.filling;
    for (const lease of this.ready.splice(0)) await this.discard(lease);
  }

  private async makeSpares(): Promise<void> {
    // Not in the caller's turn of the event loop: a spawn holds the loop up for milliseconds,
    // and what the caller finishes (a create's answer) goes out first.
    await new Promise((resolve) => setImmediate(resolve));
    while (!this.closed && this.ready.length < this.options.size) {
      const lease = this.options.reserve();
      if (!lease) return; // the pool is full: sandboxes have every address
      // Held until it is ready or removed, so that no sandbox is given its address meanwhile.
      this.making = lease;
      try {
        await this.options.make(lease);
      } catch (err) {
        this.options.log.warn(
          { address: lease.sandbox, err: errorMessage(err) },
          "making a spare sandbox network failed; creates make theirs until the next try",
        );
        await this.discard(lease);
        this.making = undefined;
        return;
      }
      if (this.closed) await this.discard(lease);
      else this.ready.push(lease);
      this.making = undefined;
    }
  }

  private async discard(lease: Lease): Promise<void> {
    await this.options
      .remove(lease)
      .catch((err: unknown) =>
        this.options.log.error(
          { address: lease.sandbox, err: errorMessage(err) },
          "removing a spare sandbox network failed",
        ),
      );
  }
}
