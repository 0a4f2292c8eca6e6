import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isIPv4 } from "node:net";
import type { NetworkPolicy } from "@paddock/protocol";
import { CommandError } from "../exec.js";
import { PaddockError, errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import { freeLease, inPool, parsePool, type AddressPool, type Lease } from "./address-pool.js";
import {
  baseScript,
  cidr4,
  forgetSandboxesScript,
  learnScript,
  removeSandboxScript,
  sandboxScript,
  TABLE,
} from "./firewall.js";
import { hostCommands, type HostCommands } from "./host-commands.js";
import {
  hostLinks,
  makeLinks,
  nameNetns,
  namespaceNames,
  netnsOf,
  removeHostLink,
  removeLinks,
} from "./links.js";
import { addressOfNetns, hostLink, idOfNetns, isSandboxId, NETNS_DIR, netnsPath } from "./names.js";
import { sortPolicy, type SortedPolicy } from "./policy.js";
import { DEFAULT_SPARES, Spares } from "./spares.js";

export interface NetworkOptions {
  /** The sandbox address pool, an IPv4 CIDR of /29 or larger. */
  pool: string;
  /** The router namespace (a path such as /run/netns/NAME); default: the daemon's own. */
  routerNetns?: string;
  /** Ranges taken out of the always-refused private ranges. */
  allowPrivate: string[];
  log: Logger;
  /** How commands run; the unit tests record them instead. */
  commands?: HostCommands;
  /** Namespaces kept ready for creates (spares.ts); default DEFAULT_SPARES. */
  spares?: number;
  /** Where namespaces are named (`ip netns`'s directory); the unit tests use their own. */
  netnsDir?: string;
}

/** A running sandbox with a network, as reconcile is given it from the state database. */
export interface NetworkedSandbox {
  id: string;
  policy: NetworkPolicy;
  address: string;
}

interface Attached {
  lease: Lease;
  policy: SortedPolicy;
}

const NO_NETWORK =
  'the sandbox was created without a network: create it with network.egress "all" or "allowlist"';

/**
 * Sandbox networking: for each sandbox with egress, a network namespace, a veth pair to the
 * router namespace, an address from the pool and its rules in the `inet paddock` table (see
 * firewall.ts). Sandboxes with egress "none" never come here. Every method is safe to repeat;
 * a setup that fails removes what it made. Changes to one sandbox run one at a time.
 *
 * The router side (the table, forwarding) is made at the first sandbox that needs it, so a
 * daemon whose sandboxes never have a network changes nothing on the host. From then on, a few
 * namespaces are kept ready (spares.ts), so that a create only names one and writes its rules.
 */
export class NetworkService {
  private readonly pool: AddressPool;
  private readonly cmd: HostCommands;
  private readonly attached = new Map<string, Attached>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly spares: Spares;
  private readonly netnsDir: string;
  private router: Promise<void> | undefined;

  constructor(private readonly options: NetworkOptions) {
    this.pool = parsePool(options.pool);
    for (const range of options.allowPrivate) parsePrivateRange(range);
    if (options.routerNetns && !existsSync(options.routerNetns)) {
      throw new Error(
        `the network router namespace ${options.routerNetns} does not exist: make it (ip netns add NAME) or leave out --network-router-netns`,
      );
    }
    this.cmd = options.commands ?? hostCommands(options.routerNetns);
    this.netnsDir = options.netnsDir ?? NETNS_DIR;
    this.spares = new Spares({
      size: options.spares ?? DEFAULT_SPARES,
      reserve: () => this.freeLease(),
      make: (lease) => makeLinks(this.cmd, lease),
      remove: (lease) => removeLinks(this.cmd, this.netnsDir, { address: lease.sandbox }),
      log: options.log,
    });
  }

  /** The pool as configured, normalized. */
  get poolCidr(): string {
    return this.pool.cidr;
  }

  /**
   * Makes the sandbox's namespace, link, address and rules. Returns the namespace for the
   * runtime to join and the sandbox's address.
   */
  async setup(id: string, policy: NetworkPolicy): Promise<{ netnsPath: string; address: string }> {
    let spare = this.spares.take();
    let lease = spare ?? this.freeLease();
    if (!lease) {
      // The last free address may be a spare's, being made.
      await this.spares.settled();
      spare = this.spares.take();
      lease = spare ?? this.freeLease();
    }
    if (!lease) {
      throw new PaddockError(
        "resource_exhausted",
        `every address of the sandbox network pool ${this.pool.cidr} is in use: terminate a sandbox with a network, or give the daemon a larger --network-pool`,
      );
    }
    // Taken at once (no await between), so two creates never get the same address.
    this.attached.set(id, { lease, policy: sortPolicy(policy) });
    const fromSpare = Boolean(spare);
    return this.serial(id, async () => {
      try {
        await this.ensureRouter();
        // Named first: whatever is made below, teardown finds it through the name.
        await nameNetns(this.netnsDir, id, lease.sandbox);
        await Promise.all([
          fromSpare ? undefined : makeLinks(this.cmd, lease),
          this.nft(sandboxScript(id, lease.sandbox, policy, { keepDns: false })),
        ]);
      } catch (err) {
        await this.remove(id).catch((e: unknown) =>
          this.options.log.error({ id, err: errorMessage(e) }, "cleanup of a failed network setup"),
        );
        throw failure("setting up the sandbox's network failed", err);
      }
      return { netnsPath: netnsPath(id), address: lease.sandbox };
    });
  }

  /**
   * Replaces a networked sandbox's policy in one transaction; new connections follow it at
   * once. The addresses DNS gave are forgotten: a name may no longer be allowed. A sandbox
   * without a network can only stay without one.
   */
  async update(id: string, policy: NetworkPolicy): Promise<void> {
    const current = this.attached.get(id);
    if (!current) {
      if (policy.egress === "none") return;
      throw new PaddockError("invalid_request", NO_NETWORK);
    }
    return this.serial(id, async () => {
      // Torn down meanwhile: writing its rules would make its chain again.
      if (this.attached.get(id) !== current) {
        throw new PaddockError("sandbox_not_running", `sandbox ${id} has ended`);
      }
      try {
        await this.nft(sandboxScript(id, current.lease.sandbox, policy, { keepDns: false }));
      } catch (err) {
        throw failure("changing the sandbox's network policy failed", err);
      }
      current.policy = sortPolicy(policy);
    });
  }

  /**
   * Lets the sandbox reach `ipv4Addresses` (what a DNS answer for an allowed name gave) for
   * max(ttlSeconds, 60) s. Anything but IPv4 addresses is ignored, and so is a sandbox without
   * a network; the always-refused ranges stay refused (the firewall checks them first).
   */
  learn(id: string, ipv4Addresses: string[], ttlSeconds: number): Promise<void> {
    const addresses = [...new Set(ipv4Addresses.filter((a) => isIPv4(a)))];
    if (!this.attached.has(id) || addresses.length === 0) return Promise.resolve();
    return this.serial(id, async () => {
      // Torn down meanwhile: its set is gone, and nothing needs it.
      if (!this.attached.has(id)) return;
      await this.nft(learnScript(id, addresses, ttlSeconds));
    });
  }

  /** A free address: neither a sandbox's nor a spare's. */
  private freeLease(): Lease | undefined {
    const held = [...[...this.attached.values()].map((a) => a.lease), ...this.spares.held()];
    return freeLease(this.pool, new Set(held.map((l) => l.sandbox)));
  }

  /** The sandbox's policy, sorted for the DNS relay; undefined without a network. */
  policy(id: string): SortedPolicy | undefined {
    return this.attached.get(id)?.policy;
  }

  /** Whether the sandbox has a network here. */
  has(id: string): boolean {
    return this.attached.has(id);
  }

  /** Removes the sandbox's link, namespace and rules, and frees its address. Safe to repeat. */
  async teardown(id: string): Promise<void> {
    await this.serial(id, () => this.remove(id));
    // An address is free again: spares the full pool held off can be made.
    this.replenish();
  }

  /**
   * Makes spares again, in the background, up to their number. Called once a create with a
   * network is over (it may have taken one): made any sooner, they would take the CPU and the
   * kernel's network and mount locks from the rest of that create.
   */
  replenish(): void {
    if (this.router) this.spares.fill();
  }

  /** At daemon stop: removes the spares (running sandboxes keep their networks). */
  async close(): Promise<void> {
    await this.spares.close();
    this.cmd.nft?.close();
  }

  /**
   * At daemon start: `running` are the running sandboxes with a network (from the state
   * database), `known` says whether an id is one of this daemon's sandboxes. Their addresses
   * are taken again, a missing link is made again, and their rules are written again from the
   * stored policy (the addresses DNS gave are kept). Anything else of the daemon's is removed:
   * host ends (`pd-*`) and sandbox chains in the router namespace, the namespaces of its pool's
   * addresses that no running sandbox has (spares a killed daemon left, say), and the names of
   * this daemon's sandboxes that are not running. (Names of ids it does not know, or of
   * addresses outside its pool, may be another daemon's on this host: they are left alone.)
   */
  async reconcile(running: NetworkedSandbox[], known: (id: string) => boolean): Promise<void> {
    const { log } = this.options;
    const keep = new Map(running.map((r) => [r.id, r]));
    const kept = new Set(running.map((r) => r.address));
    for (const name of await namespaceNames(this.netnsDir)) {
      const id = idOfNetns(name);
      const address = addressOfNetns(name);
      const stale = id
        ? !keep.has(id) && known(id)
        : address !== undefined && inPool(this.pool, address) && !kept.has(address);
      if (!stale) continue;
      log.warn({ namespace: name }, "removing a network namespace no running sandbox has");
      await removeLinks(this.cmd, this.netnsDir, id ? { id } : { address }).catch((err: unknown) =>
        log.error({ namespace: name, err: errorMessage(err) }, "network cleanup failed"),
      );
    }
    const tableExists = await this.cmd
      .router(["nft", "-j", "list", "table", ...TABLE.split(" ")])
      .then(
        (out) => out,
        () => undefined,
      );
    if (running.length === 0 && tableExists === undefined) return;

    await this.ensureRouter();
    const links = await hostLinks(this.cmd);
    const wanted = new Set(running.map((r) => hostLink(r.address)));
    for (const link of links.filter((l) => !wanted.has(l))) {
      log.warn({ link }, "removing a sandbox link no running sandbox has");
      await removeHostLink(this.cmd, link).catch((err: unknown) =>
        log.error({ link, err: errorMessage(err) }, "network cleanup failed"),
      );
    }
    const stale = sandboxIdsInTable(tableExists ?? "").filter((id) => !keep.has(id));
    // The map is made anew, so that no entry holds on to a chain that goes.
    const script = forgetSandboxesScript();
    for (const id of stale) script.push(...removeSandboxScript(id, undefined));
    for (const sandbox of running) {
      const lease = { router: previousAddress(sandbox.address), sandbox: sandbox.address };
      this.attached.set(sandbox.id, { lease, policy: sortPolicy(sandbox.policy) });
      if (!links.includes(hostLink(sandbox.address))) {
        log.warn({ id: sandbox.id }, "making a running sandbox's link again");
        const existingNetns = await netnsOf(this.netnsDir, sandbox.id);
        if (!existingNetns)
          log.error({ id: sandbox.id }, "the sandbox has no network: its namespace is gone");
        else
          await makeLinks(this.cmd, lease, { existingNetns }).catch((err: unknown) =>
            log.error({ id: sandbox.id, err: errorMessage(err) }, "the sandbox has no network"),
          );
      }
      script.push(...sandboxScript(sandbox.id, sandbox.address, sandbox.policy, { keepDns: true }));
    }
    await this.nft(script);
    // A daemon that had sandboxes with a network will have them again.
    this.replenish();
  }

  /** Makes the router side once: tools checked, forwarding on, the table and its base chains. */
  private ensureRouter(): Promise<void> {
    this.router ??= this.makeRouter().catch((err: unknown) => {
      this.router = undefined;
      throw err;
    });
    return this.router;
  }

  private async makeRouter(): Promise<void> {
    const { log, routerNetns } = this.options;
    const version = await this.cmd.router(["nft", "--version"]).catch((err: unknown) => {
      throw new PaddockError(
        "runtime_error",
        "sandbox networking needs nftables on the host (apt-get install nftables)",
        undefined,
        { cause: err },
      );
    });
    if (!routerNetns) {
      const forwarding = (await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim();
      if (forwarding !== "1")
        log.warn(
          "turning on IPv4 forwarding on the host (net.ipv4.ip_forward=1) for sandbox networking",
        );
    }
    await this.cmd.router(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    await this.nft(
      baseScript({
        refused: [this.pool.cidr],
        allowPrivate: this.options.allowPrivate,
        pool: this.pool.cidr,
      }),
    );
    log.info(
      { pool: this.pool.cidr, router: routerNetns ?? "the daemon's own", nft: version.trim() },
      "sandbox networking ready",
    );
  }

  private async remove(id: string): Promise<void> {
    const address =
      this.attached.get(id)?.lease.sandbox ??
      addressOfNetns((await netnsOf(this.netnsDir, id)) ?? "");
    const results = await Promise.allSettled([
      removeLinks(this.cmd, this.netnsDir, { id, address }),
      this.nft(removeSandboxScript(id, address)).catch((err: unknown) => {
        // No nft on the host: no rules were ever made.
        if (!(err instanceof CommandError && err.exitCode === null && /ENOENT/.test(err.stderr)))
          throw err;
      }),
    ]);
    // Freed only now: an address whose link is still there cannot be given again.
    this.attached.delete(id);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** Applies `script` in one transaction. */
  private async nft(script: string[]): Promise<void> {
    if (this.cmd.nft) await this.cmd.nft.apply(script);
    else await this.cmd.router(["nft", "-f", "-"], `${script.join("\n")}\n`);
  }

  /** Runs `job` after every earlier job for the same sandbox. */
  private serial<T>(id: string, job: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous.then(job, job);
    const settled = next.then(
      () => {},
      () => {},
    );
    this.queues.set(id, settled);
    void settled.then(() => {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    });
    return next;
  }
}

/** The router's end of the /30 whose sandbox end is `address` (`.2` -> `.1`). */
function previousAddress(address: string): string {
  const parts = address.split(".").map(Number);
  parts[3] = parts[3]! - 1;
  return parts.join(".");
}

/** Sandbox ids that have a chain or a set in the listed table (`nft -j list table`). */
function sandboxIdsInTable(json: string): string[] {
  if (!json) return [];
  const parsed = JSON.parse(json) as { nftables?: Record<string, { name?: unknown }>[] };
  const ids = new Set<string>();
  for (const item of parsed.nftables ?? []) {
    const name = item.chain?.name ?? item.set?.name;
    if (typeof name !== "string") continue;
    const id = name.replace(/_(allow4|deny4|dns4)$/, "");
    if (isSandboxId(id)) ids.add(id);
  }
  return [...ids];
}

function parsePrivateRange(range: string): void {
  try {
    cidr4(range);
  } catch {
    throw new Error(
      `--network-allow-private takes IPv4 addresses or CIDRs such as 192.168.50.0/24, got "${range}"`,
    );
  }
}

function failure(what: string, err: unknown): PaddockError {
  if (err instanceof PaddockError) return err;
  return new PaddockError("runtime_error", `${what}; the daemon's log has the error`, undefined, {
    cause: err,
    hostDetails: { networkError: errorMessage(err) },
  });
}
