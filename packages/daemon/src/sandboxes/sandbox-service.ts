import { mkdir, open, rm, writeFile } from "node:fs/promises";
import {
  SANDBOX_DEFAULTS,
  type CreateSandboxSpec,
  type ImageConfig,
  type Health,
  type ListSandboxesFilter,
  type NetworkPolicy,
  type SandboxInfo,
  type SandboxEventType,
  type SandboxNetwork,
  isPauseState,
} from "@paddock/protocol";
import { AgentClient, waitForAgent } from "../agent/client.js";
import { PaddockError, errorMessage } from "../errors.js";
import { imageEnv, type ImageService } from "../images/image-service.js";
import type { Layout } from "../layout.js";
import type { Logger } from "../logger.js";
import { buildSpec } from "../runtimes/oci-spec.js";
import {
  mountReadOnlyBind,
  mountSocketDir,
  sealSocketDir,
  unmountAll,
} from "../runtimes/mounts.js";
import { runtimeTarget, type Runtimes } from "../runtimes/index.js";
import { hasNetwork, type SandboxRecord, type SandboxStore } from "../state/sandbox-store.js";
import type { NetworkService } from "../network/network-service.js";
import type { EventBus } from "../events/event-bus.js";
import { newSandboxId } from "./ids.js";
import { Pauser } from "./pause.js";
import { setSandboxTimeout } from "./timeouts.js";
import { startDockerd } from "../docker/dockerd.js";
import type { SandboxLimits } from "../config.js";
import {
  checkCreatePolicy,
  DEFAULT_CREATE_POLICY,
  type Caller,
  type CreatePolicy,
} from "./create-policy.js";

export interface SandboxServiceDeps {
  store: SandboxStore;
  images: ImageService;
  runtimes: Runtimes;
  layout: Layout;
  /** Host dir mounted at /.paddock/runtime in every sandbox. */
  agentRuntimeDir: string;
  limits?: SandboxLimits;
  /** What the operator allows beyond the defaults; default: nothing. */
  policy?: CreatePolicy;
  /** Sandbox networking; without it (unit tests) only egress "none" can be created. */
  network?: NetworkService;
  /** Snapshots sandboxes can start from; without it (unit tests) none. */
  snapshots?: SnapshotFinder;
  /** Answers the DNS queries of sandboxes with a network, over their agent's socket. */
  dns?: DnsAttachment;
  /** A ready warm-pool sandbox given to this create, if one matches (warm-pool.ts). */
  claim?: (request: CreateSandboxSpec, caller: Caller) => Promise<SandboxInfo | undefined>;
  /** Where lifecycle events go (events/event-bus.ts); without it (unit tests) nowhere. */
  events?: EventBus;
  log: Logger;
}

/** A snapshot a sandbox starts from: what it holds, where, and the sandbox it was taken of. */
export interface SnapshotSource {
  id: string;
  kind: "memory" | "files";
  dir: string;
  sandbox: SandboxRecord;
}

/** Finds a caller's snapshot by id or name (snapshots/snapshot-service.ts). */
export interface SnapshotFinder {
  find(ref: string, caller: Caller): SnapshotSource;
}

/**
 * A create request from `snapshot`: what the sandbox is made of is the snapshot's sandbox's; env
 * (added to the snapshot's), labels, timeout and autoResume are the request's.
 */
function fromSnapshot(request: CreateSandboxSpec, sandbox: SandboxRecord): CreateSandboxSpec {
  const { egress, allow, deny } = sandbox.network;
  return {
    ...request,
    image: sandbox.image,
    runtime: sandbox.runtime,
    cpu: sandbox.cpu,
    memoryMiB: sandbox.memoryMiB,
    pidsLimit: sandbox.pidsLimit,
    diskMiB: sandbox.diskMiB,
    docker: sandbox.docker,
    network: { egress, allow, deny },
    env: { ...sandbox.env, ...request.env },
  };
}

/** The DNS relay as the lifecycle sees it (network/dns-relay.ts). */
export interface DnsAttachment {
  /** Starts answering the sandbox's DNS queries; its agent answers. */
  attach(id: string, client: AgentClient): void;
  detach(id: string): void;
}

/** What teardown needs of a sandbox; a stray (no record) has no `network`. */
type TeardownTarget = Pick<SandboxRecord, "id" | "runtime"> & {
  docker?: boolean;
  network?: SandboxNetwork;
};

/** The public view of a record: env values stay with the daemon. */
export function toInfo(record: SandboxRecord): SandboxInfo {
  const { env: _env, owner: _owner, ...info } = record;
  return info;
}

/**
 * Sandbox lifecycle: create, look up, terminate. Knows nothing of HTTP. A create that fails at
 * any step tears down what it made and leaves no row, directory, mount or container behind.
 */
export class SandboxService {
  private readonly clients = new Map<string, AgentClient>();
  private readonly terminating = new Map<string, Promise<SandboxRecord>>();
  private readonly endListeners: ((id: string) => Promise<void>)[] = [];
  /** A pause or resume under way, per sandbox: the next one (or a terminate) waits for it. */
  private readonly transitions = new Map<string, Promise<unknown>>();
  private readonly pauser: Pauser;

  constructor(private readonly deps: SandboxServiceDeps) {
    this.pauser = new Pauser({
      ...deps,
      client: (id) => this.client(id),
      disconnect: (id) => this.disconnect(id),
      reconnect: (record) => {
        if (hasNetwork(record)) this.deps.dns?.attach(record.id, this.client(record.id));
      },
    });
  }

  /**
   * Creates a sandbox for `caller`, who becomes its owner (null: the admin). `pool`: made for
   * that warm pool, hidden until claimed; without it a matching pool's ready sandbox is claimed.
   */
  async create(
    request: CreateSandboxSpec,
    caller: Caller,
    pool: string | null = null,
  ): Promise<SandboxInfo> {
    const { store, images, log } = this.deps;
    const started = performance.now();
    // A snapshot decides what the sandbox is made of (see CreateSandboxRequestSchema.snapshot).
    const from = request.snapshot
      ? this.snapshotSource().find(request.snapshot, caller)
      : undefined;
    if (from) request = fromSnapshot(request, from.sandbox);
    // First of all: a refused sandbox makes nothing, not even its image.
    checkCreatePolicy(request, caller, this.deps.policy ?? DEFAULT_CREATE_POLICY);
    const claimed = pool === null && !from ? await this.deps.claim?.(request, caller) : undefined;
    if (claimed) {
      this.emit("created", claimed, null, performance.now() - started);
      return claimed;
    }
    const owner = caller.name;
    const spec = {
      ...request,
      image: request.image ?? (request.docker ? "docker" : SANDBOX_DEFAULTS.image),
    };
    // Resolve the image before anything is made, so an unknown image leaves nothing behind;
    // the row is written while the image is held, so a removal of the image sees this sandbox.
    const id = newSandboxId();
    // A pulled image is recorded pinned to its digest, and its Env is the base of the sandbox's.
    const {
      rootfs: imageRootfs,
      config: imageConfig,
      claimed: record,
    } = await images.use(
      spec.image,
      (line) => log.info({ image: spec.image }, line),
      ({ image, config }) =>
        store.insert(
          id,
          { ...spec, image, imageConfig: config, env: { ...imageEnv(config), ...spec.env } },
          Date.now(),
          owner,
          pool,
        ),
    );
    let timings: { rootfsMs: number; startMs: number; agentMs: number; networkMs?: number };
    // The network is made while the rootfs is (launch waits for it before the container starts).
    const network = this.setUpNetwork(record);
    network.catch(() => {}); // launch or the cleanup below awaits it
    try {
      if (from) store.setSnapshot(id, from.id);
      const launched = await this.launch(record, imageRootfs, imageConfig, network, from);
      store.setRunning(id, launched.version);
      timings = launched.timings;
    } catch (err) {
      // Never tear down while the network is still being made.
      await network.catch(() => {});
      const logTail = await this.readLogTail(id);
      await this.teardown(record).catch((e: unknown) =>
        log.error({ id, err: errorMessage(e) }, "cleanup after failed create"),
      );
      store.delete(id);
      const hostDetails = {
        ...(err instanceof PaddockError ? err.hostDetails : undefined),
        agentLog: logTail,
      };
      log.warn({ id, err: errorMessage(err), ...hostDetails }, "sandbox create failed");
      if (pool === null) this.emit("failed", record, errorMessage(err));
      // The sandbox's log holds host paths and the runtime's own errors: for the admin only.
      if (err instanceof PaddockError) {
        throw new PaddockError(err.code, err.message, err.details, { cause: err, hostDetails });
      }
      throw new PaddockError(
        "runtime_error",
        `creating the sandbox failed: ${errorMessage(err)}`,
        undefined,
        { cause: err, hostDetails },
      );
    }
    log.info({ id, runtime: spec.runtime, image: spec.image, ...timings }, "sandbox created");
    if (pool === null) this.emit("created", record, null, performance.now() - started);
    return toInfo(pool === null ? this.get(id) : store.get(id, { pool })!);
  }

  /**
   * Makes the network of a sandbox created with egress, before its container starts, and
   * records its address; returns how long it took (undefined without a network).
   */
  private async setUpNetwork(record: SandboxRecord): Promise<number | undefined> {
    if (!hasNetwork(record)) return undefined;
    const { network, store } = this.deps;
    if (!network) {
      throw new PaddockError("runtime_error", "this daemon has no sandbox networking");
    }
    const t0 = performance.now();
    const { address } = await network.setup(record.id, record.network);
    store.setNetworkAddress(record.id, address);
    return Math.round(performance.now() - t0);
  }

  /** Starts the container (once `network` is made) and waits for its agent; returns the agent's version and how long each took. */
  private async launch(
    record: SandboxRecord,
    imageRootfs: string,
    imageConfig: ImageConfig | undefined,
    network: Promise<number | undefined>,
    from?: SnapshotSource,
  ): Promise<{
    version: string;
    timings: { rootfsMs: number; startMs: number; agentMs: number; networkMs?: number };
  }> {
    const { layout, runtimes } = this.deps;
    const runtime = runtimes[record.runtime];
    const target = runtimeTarget(layout, record);
    const { paths } = target;
    const tr = performance.now();
    await mkdir(paths.socketDir, { recursive: true, mode: 0o700 });
    await mkdir(paths.runtime, { recursive: true, mode: 0o700 });
    await mountSocketDir(paths.socketDir);
    await mountReadOnlyBind(this.deps.agentRuntimeDir, paths.runtime);
    const seed = from?.kind === "files" ? from.dir : undefined;
    const rootfs = await runtime.prepareRootfs(paths, imageRootfs, record.diskMiB, seed);
    const spec = buildSpec({
      sandbox: record,
      rootfs,
      agentRuntimeDir: paths.runtime,
      socketDir: paths.socketDir,
      cgroupsPath: `/paddock/${record.id}`,
      limits: this.deps.limits,
      processDefaults: { cwd: imageConfig?.workingDir, user: imageConfig?.user },
      netnsPath: target.netns,
    });
    await writeFile(paths.config, JSON.stringify(spec));
    const rootfsMs = Math.round(performance.now() - tr);
    const networkMs = await network;
    const t0 = performance.now();
    let t1: number;
    let health: Health;
    if (from?.kind === "memory") {
      // Its processes go on from the snapshot; its agent binds its socket itself (the socket
      // dir stays writable, as after a resume) and takes this sandbox's env.
      await this.pauser.startFrom(record, from.dir);
      t1 = performance.now();
      health = await this.client(record.id).health();
      await this.client(record.id).setEnv(record.env);
    } else {
      await runtime.start(target);
      await runtime.profile.afterStart(record);
      t1 = performance.now();
      health = await waitForAgent(
        this.client(record.id),
        runtime.profile.agentReadyTimeoutMs,
        async () => {
          const state = await runtime.state(target);
          return state?.status === "running";
        },
      );
      // The agent listens (paddock-init made its socket and keeps it): nothing else may ever be
      // created there.
      await sealSocketDir(paths.socketDir);
    }
    if (target.netns) this.deps.dns?.attach(record.id, this.client(record.id));
    // The create is over: the spare network it took is made again now, off its path.
    if (target.netns) this.deps.network?.replenish();
    const timings = {
      rootfsMs,
      networkMs,
      startMs: Math.round(t1 - t0),
      agentMs: Math.round(performance.now() - t1),
    };
    if (record.docker) await startDockerd(this.client(record.id), runtime.profile.docker);
    return { version: health.version, timings };
  }

  /** The record, or undefined. */
  find(id: string): SandboxRecord | undefined {
    return this.deps.store.get(id);
  }

  /** Called with a sandbox's id once it has ended (terminated or failed) and is torn down. */
  onEnd(listener: (id: string) => Promise<void>): void {
    this.endListeners.push(listener);
  }

  get(id: string): SandboxRecord {
    const record = this.deps.store.get(id);
    if (!record)
      throw new PaddockError(
        "sandbox_not_found",
        `no sandbox ${id}; list sandboxes with \`paddock list\``,
      );
    return record;
  }

  list(filter: ListSandboxesFilter & { owner?: string | null }): SandboxInfo[] {
    return this.deps.store.list(filter).map(toInfo);
  }

  /** A running sandbox's agent client; 409 if the sandbox is not running. */
  agent(id: string): AgentClient {
    const record = this.get(id);
    if (isPauseState(record.state)) {
      throw new PaddockError(
        "sandbox_paused",
        `sandbox ${id} is ${record.state}; resume it (\`paddock resume ${id}\`, sandbox.resume()) or create it with autoResume`,
      );
    }
    if (record.state !== "running") {
      throw new PaddockError(
        "sandbox_not_running",
        `sandbox ${id} is ${record.state}; create a new one`,
      );
    }
    return this.client(id);
  }

  /**
   * False only when the agent does not answer and the container is not running: a slow agent
   * (a busy sandbox) is not a dead one.
   */
  async isAlive(record: SandboxRecord): Promise<boolean> {
    const answered = await this.client(record.id)
      .health(3000)
      .then(
        () => true,
        () => false,
      );
    if (answered) return true;
    const state = await this.deps.runtimes[record.runtime]
      .state(runtimeTarget(this.deps.layout, record))
      .catch(() => undefined);
    return state?.status === "running";
  }

  /** The agent's own health answer; a dead agent is a 503, not a hang. */
  async agentHealth(id: string): Promise<Health> {
    try {
      return await this.agent(id).health(5000);
    } catch (err) {
      if (err instanceof PaddockError) throw err;
      throw new PaddockError(
        "agent_unavailable",
        `sandbox ${id}'s agent does not answer: ${errorMessage(err)}`,
      );
    }
  }

  /**
   * The agent of a sandbox that is running, or that is paused and was created with autoResume
   * (it is resumed first); otherwise as agent().
   */
  async ready(id: string): Promise<AgentClient> {
    const { state, autoResume } = this.get(id);
    if (autoResume && isPauseState(state)) await this.resume(id);
    return this.agent(id);
  }

  /**
   * Pauses a running sandbox (see pause.ts for how each runtime does it); pausing a paused one
   * returns it as it is.
   */
  pause(id: string): Promise<SandboxInfo> {
    return this.transition(id, async () => {
      const record = this.get(id);
      if (record.state === "paused") return;
      this.mustBeRunning(record);
      await this.pauser.pause(record);
      this.emit("paused", record);
    });
  }

  /** At daemon start: settles a sandbox the daemon died pausing or resuming (see Pauser.settle). */
  settlePause(record: SandboxRecord): Promise<"running" | "paused" | "lost"> {
    return this.pauser.settle(record);
  }

  /** Resumes a paused sandbox; resuming a running one returns it as it is. */
  resume(id: string): Promise<SandboxInfo> {
    return this.transition(id, async () => {
      const record = this.get(id);
      if (record.state === "running") return;
      if (record.state !== "paused") this.mustBeRunning(record);
      await this.pauser.resume(record);
      this.emit("resumed", record);
    });
  }

  /**
   * Saves a running sandbox into `dir` for a snapshot, keeping it running (see Pauser.snapshot);
   * says what the snapshot holds.
   */
  async snapshotInto(id: string, dir: string): Promise<"memory" | "files"> {
    let kind: "memory" | "files" = "files";
    await this.transition(id, async () => {
      const record = this.get(id);
      this.mustBeRunning(record);
      kind = await this.pauser.snapshot(record, dir);
    });
    return kind;
  }

  /** Runs `change` after the sandbox's earlier pause or resume has settled; answers its info. */
  private async transition(id: string, change: () => Promise<void>): Promise<SandboxInfo> {
    const before = this.transitions.get(id) ?? Promise.resolve();
    const job = before.catch(() => {}).then(change);
    this.transitions.set(id, job);
    try {
      await job;
    } finally {
      if (this.transitions.get(id) === job) this.transitions.delete(id);
    }
    return toInfo(this.get(id));
  }

  private snapshotSource(): SnapshotFinder {
    if (!this.deps.snapshots)
      throw new PaddockError("invalid_request", "this daemon keeps no snapshots");
    return this.deps.snapshots;
  }

  private mustBeRunning(record: SandboxRecord): void {
    if (record.state !== "running")
      throw new PaddockError(
        "sandbox_not_running",
        `sandbox ${record.id} is ${record.state}; create a new one`,
      );
  }

  /** Terminates a sandbox; terminating an ended one returns it as it is. */
  async terminate(id: string, reason: string | null = null): Promise<SandboxRecord> {
    // A pause or resume under way finishes first: the teardown then finds it whole.
    await this.transitions.get(id)?.catch(() => {});
    const record = this.get(id);
    if (record.state === "terminated" || record.state === "failed") return record;
    return this.end(record, "terminated", reason);
  }

  /**
   * Tears a sandbox down and records how it ended. One teardown per sandbox at a time: a
   * terminate, the monitor, the reaper and recovery asking at once all wait for the first.
   */
  end(
    record: SandboxRecord,
    state: "terminated" | "failed",
    reason: string | null,
  ): Promise<SandboxRecord> {
    let job = this.terminating.get(record.id);
    if (!job) {
      job = this.endOnce(record, state, reason).finally(() => this.terminating.delete(record.id));
      this.terminating.set(record.id, job);
    }
    return job;
  }

  private async endOnce(
    record: SandboxRecord,
    state: "terminated" | "failed",
    reason: string | null,
  ): Promise<SandboxRecord> {
    const { store, log } = this.deps;
    store.setState(record.id, "terminating");
    for (const listener of this.endListeners) {
      await listener(record.id).catch((err: unknown) =>
        log.error({ id: record.id, err: errorMessage(err) }, "end listener failed"),
      );
    }
    await this.teardown(record);
    store.setState(record.id, state, reason);
    log.info({ id: record.id, state, reason }, "sandbox ended");
    // A warm pool's sandbox (store.get does not see it) was never anyone's: no event.
    const ended = store.get(record.id);
    if (ended) {
      const type = state === "failed" ? "failed" : reason === "timeout" ? "expired" : "terminated";
      this.emit(type, ended, reason);
    }
    return this.get(record.id);
  }

  /** Every lifecycle event goes out from here (see events/event-bus.ts). */
  private emit(
    type: SandboxEventType,
    sandbox: Pick<SandboxRecord, "id" | "runtime"> & { owner?: string | null },
    reason: string | null = null,
    createMs?: number,
  ): void {
    // A claimed pool sandbox's info has no owner: it is the record's, set by the claim.
    const owner = sandbox.owner ?? this.deps.store.get(sandbox.id)?.owner ?? null;
    this.deps.events?.emit({
      type,
      sandboxId: sandbox.id,
      runtime: sandbox.runtime,
      owner,
      reason,
      ...(createMs === undefined ? {} : { createMs: Math.round(createMs) }),
    });
  }

  /** Removes the container, its network, its mounts and its directory. Safe to repeat. */
  async teardown(record: TeardownTarget): Promise<void> {
    const { layout, runtimes, network } = this.deps;
    const runtime = runtimes[record.runtime];
    const target = runtimeTarget(layout, {
      id: record.id,
      docker: record.docker ?? false,
      network: record.network ?? { egress: "none", allow: [], deny: [], address: null },
    });
    const networked = Boolean(target.netns) || Boolean(network?.has(record.id));
    this.disconnect(record.id);
    await this.pauser.idle(record.id);
    await runtime.destroy(target);
    // After the container: its processes held the namespace.
    if (networked) await network?.teardown(record.id);
    await runtime.releaseRootfs(target.paths);
    await rm(target.paths.dir, { recursive: true, force: true });
  }

  /** Gives the sandbox `seconds` of running time from now (from its pause if paused); see timeouts.ts. */
  setTimeout(id: string, seconds: number): SandboxRecord {
    return setSandboxTimeout(this.deps.store, this.get(id), seconds);
  }

  /** The sandbox's egress policy and address. */
  networkOf(id: string): SandboxNetwork {
    return this.get(id).network;
  }

  /**
   * Replaces a running sandbox's egress policy; new connections follow it. A sandbox created
   * without a network cannot be given one (it has no interface but loopback).
   */
  async updateNetwork(id: string, policy: NetworkPolicy): Promise<SandboxNetwork> {
    const record = this.get(id);
    if (record.state !== "running") {
      throw new PaddockError(
        "sandbox_not_running",
        `sandbox ${id} is ${record.state}; create a new one`,
      );
    }
    if (this.deps.network) await this.deps.network.update(id, policy);
    else if (policy.egress !== "none")
      throw new PaddockError("runtime_error", "this daemon has no sandbox networking");
    this.deps.store.setNetworkPolicy(id, policy);
    return this.networkOf(id);
  }

  /**
   * Removes a sandbox directory that no runtime has a container for: whatever is still mounted
   * under it (disk, overlay, socket dir, agent runtime), then the directory. Safe to repeat.
   */
  async removeDirectory(id: string): Promise<void> {
    const { dir } = this.deps.layout.sandbox(id);
    await unmountAll(dir);
    await rm(dir, { recursive: true, force: true });
  }

  /** Stops answering the sandbox's DNS and closes every connection to its agent. */
  private disconnect(id: string): void {
    this.deps.dns?.detach(id);
    this.clients.get(id)?.close();
    this.clients.delete(id);
  }

  /** The agent of a warm pool's sandbox, which get() does not see (warm-pool.ts). */
  pooledAgent(id: string): AgentClient {
    return this.client(id);
  }

  private client(id: string): AgentClient {
    let client = this.clients.get(id);
    if (!client) {
      client = new AgentClient(this.deps.layout.sandbox(id).socket);
      this.clients.set(id, client);
    }
    return client;
  }

  private async readLogTail(id: string, bytes = 4096): Promise<string> {
    try {
      const file = await open(this.deps.layout.sandbox(id).log, "r");
      try {
        const { size } = await file.stat();
        const buf = Buffer.alloc(Math.min(size, bytes));
        await file.read(buf, 0, buf.length, Math.max(0, size - buf.length));
        return buf.toString("utf8");
      } finally {
        await file.close();
      }
    } catch {
      return "";
    }
  }

  /**
   * Waits for the terminations under way (a daemon stopping mid-teardown would leave the
   * sandbox's mounts behind until its next start), at most `timeoutMs`.
   */
  async settle(timeoutMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.terminating.values()]),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  closeClients(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
