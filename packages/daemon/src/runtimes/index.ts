import { existsSync } from "node:fs";
import type { RuntimeName } from "@paddock/protocol";
import { Layout, type SandboxPaths } from "../layout.js";
import { netnsPath } from "../network/names.js";
import { hasNetwork, type SandboxRecord } from "../state/sandbox-store.js";
import type { OciRuntime, RuntimeTarget } from "./runtime.js";
import type { RuntimeProfile } from "./profile.js";
import { RuncRuntime, runcProfile } from "./runc.js";
import { RunscRuntime, runscProfile } from "./runsc.js";

export type Runtimes = Record<RuntimeName, OciRuntime>;

/** Each runtime's profile, for code that has a sandbox's record but no runtime object. */
export const RUNTIME_PROFILES: Record<RuntimeName, RuntimeProfile> = {
  runc: runcProfile,
  runsc: runscProfile,
};

export function createRuntimes(layout: Layout): Runtimes {
  return {
    runc: new RuncRuntime(layout.runtimeRoot("runc")),
    runsc: new RunscRuntime(layout.runtimeRoot("runsc")),
  };
}

/**
 * The global flags a daemon with data dir `dataDir` gives `runtime` for sandbox `id` (not a
 * Docker one): `<runtime> <flags> exec <id> …` then reaches that very container. For acting on
 * a sandbox by hand, as the tests and benchmarks do; whether the sandbox has a network is read
 * from the host (its namespace exists), where the daemon reads it from its state.
 */
export function sandboxRuntimeFlags(dataDir: string, runtime: RuntimeName, id: string): string[] {
  const layout = new Layout(dataDir);
  const netns = existsSync(netnsPath(id)) ? netnsPath(id) : undefined;
  return createRuntimes(layout)[runtime].globalArgs({ id, paths: layout.sandbox(id), netns });
}

/** The runtime target of a stored sandbox: the same flags on every call, recovery included. */
export function runtimeTarget(
  layout: Layout,
  record: Pick<SandboxRecord, "id" | "docker" | "network">,
): RuntimeTarget & { paths: SandboxPaths } {
  return {
    id: record.id,
    paths: layout.sandbox(record.id),
    docker: record.docker,
    netns: hasNetwork(record) ? netnsPath(record.id) : undefined,
  };
}

export { OciRuntime } from "./runtime.js";
export type { DockerProfile, RuntimeProfile } from "./profile.js";
