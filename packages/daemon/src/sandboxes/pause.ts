import { access, mkdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { waitForAgent, type AgentClient } from "../agent/client.js";
import { PaddockError, errorMessage } from "../errors.js";
import type { Layout } from "../layout.js";
import type { Logger } from "../logger.js";
import { copyTree, unsealSocketDir } from "../runtimes/mounts.js";
import { runtimeTarget, type Runtimes } from "../runtimes/index.js";
import { waitForRuntimeCalls } from "../runtimes/runtime-calls.js";
import { hasNetwork, type SandboxRecord, type SandboxStore } from "../state/sandbox-store.js";

/**
 * How a sandbox pauses. `checkpoint` (runsc without a network): gVisor saves its memory,
 * processes and files to disk and the sandbox stops, giving its memory back to the host.
 * `freeze`: the container's processes are frozen in memory (runc has no checkpoint here; gVisor
 * cannot checkpoint host networking, which sandboxes with a network use).
 */
export type PauseMode = "checkpoint" | "freeze";

export function pauseMode(record: Pick<SandboxRecord, "runtime" | "network">): PauseMode {
  return record.runtime === "runsc" && !hasNetwork(record) ? "checkpoint" : "freeze";
}

/** Written after a checkpoint has been saved whole: without it the image is not to be used. */
const COMPLETE_MARK = "paddock-complete";

export interface PauseDeps {
  store: SandboxStore;
  runtimes: Runtimes;
  layout: Layout;
  log: Logger;
  /** The sandbox's agent client (made anew after a restore: the socket is a new one). */
  client(id: string): AgentClient;
  /** Closes and forgets the sandbox's client and its DNS relay (every host connection). */
  disconnect(id: string): void;
  /** Answers the sandbox's DNS again after a resume (sandboxes with a network only). */
  reconnect(record: SandboxRecord): void;
}

/**
 * Pause and resume of one sandbox at a time (the service serializes them per sandbox). Either
 * ends with the sandbox running or paused, never half: a failed pause leaves it running, a
 * failed resume leaves it paused with its checkpoint kept.
 */
export class Pauser {
  /** Checkpointed containers being removed, by sandbox. */
  private readonly removals = new Map<string, Promise<void>>();

  constructor(private readonly deps: PauseDeps) {}

  async pause(record: SandboxRecord): Promise<void> {
    const { store, log } = this.deps;
    const mode = pauseMode(record);
    const t0 = performance.now();
    const steps = new Steps();
    store.setState(record.id, "pausing");
    try {
      if (mode === "checkpoint") await this.checkpoint(record, steps);
      else await this.runtime(record).freeze(this.target(record));
    } catch (err) {
      store.setState(record.id, "running");
      log.warn({ id: record.id, mode, err: errorMessage(err) }, "pause failed");
      throw failure("pausing", err);
    }
    store.setPaused(record.id, Date.now());
    const ms = Math.round(performance.now() - t0);
    log.info({ id: record.id, mode, ms, ...steps.ms }, "sandbox paused");
  }

  async resume(record: SandboxRecord): Promise<void> {
    const { store, log } = this.deps;
    const mode = pauseMode(record);
    const t0 = performance.now();
    const steps = new Steps();
    store.setState(record.id, "resuming");
    try {
      if (mode === "checkpoint") await this.restore(record, steps);
      else {
        await this.runtime(record).thaw(this.target(record));
        this.deps.reconnect(record);
      }
    } catch (err) {
      store.setState(record.id, "paused");
      log.warn({ id: record.id, mode, err: errorMessage(err) }, "resume failed");
      throw failure("resuming", err);
    }
    store.setResumed(record.id, Date.now());
    const ms = Math.round(performance.now() - t0);
    log.info({ id: record.id, mode, ms, ...steps.ms }, "sandbox resumed");
  }

  /**
   * The agent lets go of its socket and every connection, then gVisor saves the sandbox and
   * stops it. If the checkpoint fails the sandbox is still running: its agent listens again.
   */
  private async checkpoint(record: SandboxRecord, steps: Steps): Promise<void> {
    const target = this.target(record);
    const runtime = this.runtime(record);
    const dir = target.paths.checkpoint;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await this.deps.client(record.id).release();
    this.deps.disconnect(record.id);
    steps.mark("releaseMs");
    try {
      await runtime.checkpoint(target, dir);
      steps.mark("checkpointMs");
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      await this.listenAgain(record).catch((e: unknown) =>
        this.deps.log.error(
          { id: record.id, err: errorMessage(e) },
          "agent lost after a failed checkpoint",
        ),
      );
      throw err;
    }
    await writeFile(path.join(dir, COMPLETE_MARK), "");
    // The checkpointed container has stopped, and its id is needed again for the restore. Its
    // removal takes seconds (gVisor's sandbox process winds down): the pause does not wait.
    const removal = runtime
      .destroy(target)
      .catch((err: unknown) =>
        this.deps.log.error(
          { id: record.id, err: errorMessage(err) },
          "removing a checkpointed container failed",
        ),
      )
      .finally(() => this.removals.delete(record.id));
    this.removals.set(record.id, removal);
  }

  /**
   * Saves a running sandbox into `dir`, which it keeps running: `memory` (runsc without a
   * network) is a gVisor checkpoint (its agent lets go of its connections for that moment and
   * listens again after); `files` (runc) is a copy of its writable layer, taken frozen.
   */
  async snapshot(record: SandboxRecord, dir: string): Promise<"memory" | "files"> {
    const target = this.target(record);
    const runtime = this.runtime(record);
    if (record.runtime === "runc") {
      await runtime.freeze(target);
      try {
        await copyTree(target.paths.upper, dir);
      } finally {
        await runtime.thaw(target);
      }
      return "files";
    }
    if (pauseMode(record) !== "checkpoint")
      throw new PaddockError(
        "conflict",
        `sandbox ${record.id} has a network: gVisor cannot save a sandbox that uses host networking; snapshot a sandbox created without a network`,
      );
    await this.deps.client(record.id).release();
    this.deps.disconnect(record.id);
    try {
      await runtime.checkpoint(target, dir, { leaveRunning: true });
      await writeFile(path.join(dir, COMPLETE_MARK), "");
    } finally {
      await this.listenAgain(record);
    }
    return "memory";
  }

  /**
   * Starts a new sandbox (made up to its container's spec) from a memory snapshot in `dir`, and
   * waits for its agent, which binds its socket anew.
   */
  async startFrom(record: SandboxRecord, dir: string): Promise<void> {
    if (!(await hasCheckpoint(dir)))
      throw new PaddockError("runtime_error", `the snapshot's saved state is incomplete`);
    await this.startSaved(record, dir);
  }

  /** Waits for the removal of the sandbox's checkpointed container, if one is under way. */
  async idle(id: string): Promise<void> {
    await this.removals.get(id);
  }

  /** Starts the sandbox from its checkpoint and has its agent listen on a new socket. */
  private async restore(record: SandboxRecord, steps: Steps): Promise<void> {
    const target = this.target(record);
    const runtime = this.runtime(record);
    const dir = target.paths.checkpoint;
    if (!(await hasCheckpoint(dir))) {
      throw new PaddockError(
        "runtime_error",
        `sandbox ${record.id} has no saved state to resume from`,
      );
    }
    await this.idle(record.id);
    // gVisor takes the directory's mount as it is at the restore: writable, for the new socket.
    await unsealSocketDir(target.paths.socketDir);
    try {
      await this.startSaved(record, dir, steps);
    } catch (err) {
      this.deps.disconnect(record.id);
      await runtime.destroy(target).catch(() => {});
      throw err;
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** `runsc restore` of the saved state in `dir`, then the agent listens and answers. */
  private async startSaved(record: SandboxRecord, dir: string, steps?: Steps): Promise<void> {
    const runtime = this.runtime(record);
    await runtime.restore(this.target(record), dir);
    await runtime.profile.afterStart(record);
    steps?.mark("restoreMs");
    await this.listenAgain(record);
    steps?.mark("agentMs");
  }

  /** Tells the restored (or still running) agent to listen, and waits until it answers. */
  private async listenAgain(record: SandboxRecord): Promise<void> {
    const target = this.target(record);
    const runtime = this.runtime(record);
    this.deps.disconnect(record.id);
    // The agent binds its socket anew, and a restarted agent must be able to bind it too: the
    // directory stays writable from now on. The old socket goes first, so the client holds on
    // to the new one only (see AgentClient.socketPath).
    await unsealSocketDir(target.paths.socketDir);
    await rm(target.paths.socket, { force: true });
    await runtime.signal(target, "SIGUSR2");
    await waitForAgent(
      this.deps.client(record.id),
      runtime.profile.agentReadyTimeoutMs,
      async () => {
        const state = await runtime.state(target);
        return state?.status === "running";
      },
    );
    this.deps.reconnect(record);
  }

  /**
   * After a daemon restart, for a sandbox that was pausing, paused or resuming: makes it
   * running or paused, whichever its container and checkpoint allow, and says which; "lost"
   * when neither (the caller ends it).
   */
  async settle(record: SandboxRecord): Promise<"running" | "paused" | "lost"> {
    const { store } = this.deps;
    const target = this.target(record);
    const runtime = this.runtime(record);
    // A checkpoint or restore the dead daemon started may still be under way: its end decides.
    await waitForRuntimeCalls(record.id);
    let status = (await runtime.state(target))?.status;
    const running = () => {
      if (record.pausedAt === null) store.setState(record.id, "running");
      else store.setResumed(record.id, Date.now());
      return "running" as const;
    };
    const paused = () => {
      if (record.pausedAt === null) store.setPaused(record.id, Date.now());
      else store.setState(record.id, "paused");
      return "paused" as const;
    };
    if (pauseMode(record) === "freeze") {
      // Frozen for a snapshot (the record says running): thawed; frozen for a pause: paused.
      if (status === "paused" && record.state !== "running") return paused();
      if (status === "paused") await runtime.thaw(target);
      else if (status !== "running") return "lost";
      this.deps.reconnect(record);
      return running();
    }
    if (status === "running") {
      // Its agent may have let go of its socket before the daemon died.
      const answers = await this.listenAgain(record).then(
        () => true,
        (err: unknown) => {
          this.deps.log.warn(
            { id: record.id, err: errorMessage(err) },
            "agent did not listen again",
          );
          return false;
        },
      );
      if (answers) return running();
      // A checkpoint that ended as the daemon died: its sandbox is on its way to stopped (its
      // control server already refuses), which takes a moment.
      const dir = target.paths.checkpoint;
      for (let i = 0; i < 100 && status === "running" && (await hasSavedState(dir)); i++) {
        await sleep(100);
        status = (await runtime.state(target))?.status;
      }
    }
    // gVisor stops a sandbox only once its checkpoint is saved whole (a failed one leaves it
    // running): a stopped one whose daemon died before marking the checkpoint has one.
    if (status === "stopped" && (await hasSavedState(target.paths.checkpoint)))
      await writeFile(path.join(target.paths.checkpoint, COMPLETE_MARK), "");
    if (status !== undefined) await runtime.destroy(target);
    return (await hasCheckpoint(target.paths.checkpoint)) ? paused() : "lost";
  }

  private target(record: SandboxRecord) {
    return runtimeTarget(this.deps.layout, record);
  }

  private runtime(record: SandboxRecord) {
    return this.deps.runtimes[record.runtime];
  }
}

/** How long each step of a pause or resume took, for the log. */
class Steps {
  readonly ms: Record<string, number> = {};
  private last = performance.now();

  mark(name: string): void {
    const now = performance.now();
    this.ms[name] = Math.round(now - this.last);
    this.last = now;
  }
}

/** Whether `dir` holds gVisor's checkpoint files (whole or not). */
async function hasSavedState(dir: string): Promise<boolean> {
  const sizes = await Promise.all(
    ["checkpoint.img", "pages.img"].map((f) =>
      stat(path.join(dir, f)).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  return sizes.every((size) => size > 0);
}

/** Whether `dir` holds a checkpoint that was saved whole. */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  return access(path.join(dir, COMPLETE_MARK)).then(
    () => true,
    () => false,
  );
}

function failure(what: string, err: unknown): PaddockError {
  if (err instanceof PaddockError && err.code !== "runtime_error") return err;
  return new PaddockError(
    "runtime_error",
    `${what} the sandbox failed: ${errorMessage(err)}`,
    undefined,
    { cause: err, hostDetails: err instanceof PaddockError ? err.hostDetails : undefined },
  );
}
