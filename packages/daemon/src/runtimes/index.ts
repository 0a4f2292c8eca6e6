import type { RuntimeName } from "@paddock/protocol";
import type { Layout } from "../layout.js";
import type { OciRuntime } from "./runtime.js";
import { RuncRuntime } from "./runc.js";
import { RunscRuntime } from "./runsc.js";

export type Runtimes = Record<RuntimeName, OciRuntime>;

export function createRuntimes(layout: Layout): Runtimes {
  return {
    runc: new RuncRuntime(layout.runtimeRoot("runc")),
    runsc: new RunscRuntime(layout.runtimeRoot("runsc")),
  };
}

export { OciRuntime } from "./runtime.js";
