import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import type { RuntimeName } from "@paddock/protocol";
import type { SandboxPaths } from "../layout.js";
import { CommandError, run } from "../exec.js";
import { PaddockError } from "../errors.js";
import type { RuntimeProfile } from "./profile.js";

/**
 * What a runtime call needs to know of a sandbox: its id, its paths, whether it runs Docker,
 * and its network namespace (a path) when it has a network.
 */
export interface RuntimeTarget {
  id: string;
  paths?: SandboxPaths;
  docker?: boolean;
  netns?: string;
}

export interface ContainerState {
  id: string;
  status: string;
  pid: number;
}

/**
 * An OCI runtime driven through its CLI. The two runtimes' calls differ only in their global
 * flags and in how the rootfs is given; everything else is this one code path. Every other
 * difference (spec, limits, memory, Docker) is in their `profile`.
 */
export abstract class OciRuntime {
  abstract readonly name: RuntimeName;
  abstract readonly binary: string;
  abstract readonly profile: RuntimeProfile;

  constructor(protected readonly root: string) {}

  /** Flags that must be the same on every call for one sandbox (runsc insists on it). */
  abstract globalArgs(target: RuntimeTarget | undefined): string[];

  /** The command `run` goes through, before the runtime's own (runsc: into the sandbox's network namespace). */
  protected runPrefix(_target: RuntimeTarget): string[] {
    return [];
  }

  /**
   * Makes the root filesystem the container starts from, its writes going to a disk of
   * `diskMiB`; returns the path for the spec. `seed`: a files snapshot (runc) whose files the
   * writable layer starts with.
   */
  abstract prepareRootfs(
    paths: SandboxPaths,
    imageRootfs: string,
    diskMiB: number,
    seed?: string,
  ): Promise<string>;

  /** Undoes prepareRootfs; safe to call when it never ran or already ran. */
  abstract releaseRootfs(paths: SandboxPaths): Promise<void>;

  protected cli(
    target: RuntimeTarget | undefined,
    args: string[],
    timeoutMs = 30_000,
  ): Promise<string> {
    return run(this.binary, [...this.globalArgs(target), ...args], { timeoutMs });
  }

  /**
   * Creates and starts the container detached. Its stdio, and the runtime's own errors, go to a
   * log file, not to the daemon: the container inherits them and must outlive the daemon.
   */
  start(target: RuntimeTarget & { paths: SandboxPaths }, timeoutMs = 30_000): Promise<void> {
    return this.detached(target, ["run", "--detach"], "start", timeoutMs);
  }

  /** Starts the container again from a checkpoint in `imageDir` (runsc), detached like start. */
  restore(
    target: RuntimeTarget & { paths: SandboxPaths },
    imageDir: string,
    timeoutMs = 60_000,
  ): Promise<void> {
    const args = ["restore", "--detach", "--image-path", imageDir];
    return this.detached(target, args, "restore", timeoutMs);
  }

  private async detached(
    target: RuntimeTarget & { paths: SandboxPaths },
    verb: string[],
    what: string,
    timeoutMs: number,
  ): Promise<void> {
    const { id, paths } = target;
    const log = openSync(paths.log, "a");
    try {
      await new Promise<void>((resolve, reject) => {
        const [file, ...args] = [
          ...this.runPrefix(target),
          this.binary,
          ...this.globalArgs(target),
          ...verb,
          ...["--bundle", paths.bundle, id],
        ];
        const child = spawn(file!, args, { stdio: ["ignore", log, log] });
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("error", reject);
        // "exit", not "close": the container keeps the inherited log descriptors open.
        child.on("exit", (code, signal) => {
          clearTimeout(timer);
          if (code === 0) return resolve();
          // The runtime's own words name host paths (bundle, cgroups): for the admin only.
          const why = lastLines(readFileSync(paths.log, "utf8"), 5);
          reject(
            new PaddockError(
              "runtime_error",
              `${this.name} could not ${what} the sandbox (exit ${code ?? signal}); the daemon's log has the runtime's error`,
              { runtime: this.name },
              { hostDetails: { runtimeError: why } },
            ),
          );
        });
      });
    } finally {
      closeSync(log);
    }
  }

  /**
   * Saves the container's whole state (memory, processes, files) to `imageDir` and stops it
   * (runsc). It refuses a sandbox with a bound host socket (the agent's must be released first).
   */
  async checkpoint(
    target: RuntimeTarget,
    imageDir: string,
    options: { leaveRunning?: boolean } = {},
  ): Promise<void> {
    // Uncompressed: a restore then reads it at disk speed (resume is what users wait for).
    const args = ["checkpoint", "--compression=none", "--image-path", imageDir];
    if (options.leaveRunning) args.push("--leave-running");
    await this.cli(target, [...args, target.id], 120_000);
  }

  /** Freezes every process of the container in memory. */
  async freeze(target: RuntimeTarget): Promise<void> {
    await this.cli(target, ["pause", target.id]);
  }

  /** Thaws a frozen container. */
  async thaw(target: RuntimeTarget): Promise<void> {
    await this.cli(target, ["resume", target.id]);
  }

  /** Sends `signal` to the container's first process (tini, which passes it on to its child). */
  async signal(target: RuntimeTarget, signal: string): Promise<void> {
    await this.cli(target, ["kill", target.id, signal]);
  }

  /** The container's state, or null when the runtime does not know it. */
  async state(target: RuntimeTarget): Promise<ContainerState | null> {
    try {
      const out = await this.cli(target, ["state", target.id]);
      const parsed = JSON.parse(out) as { id: string; status: string; pid: number };
      return { id: parsed.id, status: parsed.status, pid: parsed.pid };
    } catch (err) {
      if (isMissingContainer(err)) return null;
      throw err;
    }
  }

  /** Kills and deletes the container; a container that is already gone is not an error. */
  async destroy(target: RuntimeTarget): Promise<void> {
    try {
      await this.cli(target, ["delete", "--force", target.id]);
    } catch (err) {
      if (!isMissingContainer(err)) throw err;
    }
  }

  /** Ids of every container under this daemon's root for this runtime. */
  async list(): Promise<string[]> {
    const out = await this.cli(undefined, ["list", "--format", "json"]);
    const parsed = JSON.parse(out || "null") as { id: string }[] | null;
    return (parsed ?? []).map((c) => c.id);
  }
}

/** runc and runsc both say "does not exist" (or "not found") for an unknown container id. */
export function isMissingContainer(err: unknown): boolean {
  return err instanceof CommandError && /does not exist|not found|no such file/i.test(err.stderr);
}

function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join("\n");
}
