import { mkdir, open, rm, writeFile } from "node:fs/promises";
import {
  SANDBOX_DEFAULTS,
  type CreateSandboxSpec,
  type ImageConfig,
  type Health,
  type ListSandboxesFilter,
  type SandboxInfo,
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
import type { Runtimes } from "../runtimes/index.js";
import type { SandboxRecord, SandboxStore } from "../state/sandbox-store.js";
import { newSandboxId } from "./ids.js";
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
  log: Logger;
}

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

  constructor(private readonly deps: SandboxServiceDeps) {}

  /** Creates a sandbox for `caller`, who becomes its owner (null: the admin). */
  async create(request: CreateSandboxSpec, caller: Caller): Promise<SandboxInfo> {
    const { store, images, log } = this.deps;
    // First of all: a refused sandbox makes nothing, not even its image.
    checkCreatePolicy(request, caller, this.deps.policy ?? DEFAULT_CREATE_POLICY);
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
        ),
    );
    let timings: { rootfsMs: number; startMs: number; agentMs: number };
    try {
      const launched = await this.launch(record, imageRootfs, imageConfig);
      store.setRunning(id, launched.version);
      timings = launched.timings;
    } catch (err) {
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
    return toInfo(this.get(id));
  }

  /** Starts the container and waits for its agent; returns the agent's version and how long each took. */
  private async launch(
    record: SandboxRecord,
    imageRootfs: string,
    imageConfig?: ImageConfig,
  ): Promise<{
    version: string;
    timings: { rootfsMs: number; startMs: number; agentMs: number };
  }> {
    const { layout, runtimes } = this.deps;
    const runtime = runtimes[record.runtime];
    const paths = layout.sandbox(record.id);
    const tr = performance.now();
    await mkdir(paths.socketDir, { recursive: true, mode: 0o700 });
    await mkdir(paths.runtime, { recursive: true, mode: 0o700 });
    await mountSocketDir(paths.socketDir);
    await mountReadOnlyBind(this.deps.agentRuntimeDir, paths.runtime);
    const rootfs = await runtime.prepareRootfs(paths, imageRootfs, record.diskMiB);
    const spec = buildSpec({
      sandbox: record,
      rootfs,
      agentRuntimeDir: paths.runtime,
      socketDir: paths.socketDir,
      cgroupsPath: `/paddock/${record.id}`,
      limits: this.deps.limits,
      processDefaults: { cwd: imageConfig?.workingDir, user: imageConfig?.user },
    });
    await writeFile(paths.config, JSON.stringify(spec));
    const target = { id: record.id, paths, docker: record.docker };
    const t0 = performance.now();
    const rootfsMs = Math.round(t0 - tr);
    await runtime.start(target);
    await runtime.profile.afterStart(record);
    const t1 = performance.now();
    const health = await waitForAgent(
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
    const timings = {
      rootfsMs,
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
    const paths = this.deps.layout.sandbox(record.id);
    const state = await this.deps.runtimes[record.runtime]
      .state({ id: record.id, paths, docker: record.docker })
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

  /** Terminates a sandbox; terminating an ended one returns it as it is. */
  terminate(id: string, reason: string | null = null): Promise<SandboxRecord> {
    const record = this.get(id);
    if (record.state === "terminated" || record.state === "failed") return Promise.resolve(record);
    let job = this.terminating.get(id);
    if (!job) {
      job = this.end(record, "terminated", reason).finally(() => this.terminating.delete(id));
      this.terminating.set(id, job);
    }
    return job;
  }

  /** Tears a sandbox down and records how it ended. */
  async end(
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
    return this.get(record.id);
  }

  /** Removes the container, its mounts and its directory. Safe to repeat. */
  async teardown(
    record: Pick<SandboxRecord, "id" | "runtime"> & { docker?: boolean },
  ): Promise<void> {
    const { layout, runtimes } = this.deps;
    const runtime = runtimes[record.runtime];
    const paths = layout.sandbox(record.id);
    this.clients.get(record.id)?.close();
    this.clients.delete(record.id);
    await runtime.destroy({ id: record.id, paths, docker: record.docker });
    await runtime.releaseRootfs(paths);
    await rm(paths.dir, { recursive: true, force: true });
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
