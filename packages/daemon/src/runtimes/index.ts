import type { RuntimeName } from "@paddock/protocol";
import { Layout } from "../layout.js";
import type { OciRuntime } from "./runtime.js";
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
 * a sandbox by hand, as the tests and benchmarks do.
 */
export function sandboxRuntimeFlags(dataDir: string, runtime: RuntimeName, id: string): string[] {
  const layout = new Layout(dataDir);
  return createRuntimes(layout)[runtime].globalArgs({ id, paths: layout.sandbox(id) });
}

export { OciRuntime } from "./runtime.js";
export type { DockerProfile, RuntimeProfile } from "./profile.js";
