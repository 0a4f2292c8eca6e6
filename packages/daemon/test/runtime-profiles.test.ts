import { describe, expect, it } from "vitest";
import { RUNTIMES } from "@paddock/protocol";
import { Layout } from "../src/layout.js";
import { createRuntimes, RUNTIME_PROFILES } from "../src/runtimes/index.js";
import { gvisorHardLimitBytes } from "../src/runtimes/runsc.js";

describe("runtime profiles", () => {
  it("are the ones the runtime objects carry", () => {
    const runtimes = createRuntimes(new Layout("/nonexistent"));
    for (const name of RUNTIMES) expect(runtimes[name].profile).toBe(RUNTIME_PROFILES[name]);
  });

  it("keep the differences the rest of the daemon relies on", () => {
    const { runc, runsc } = RUNTIME_PROFILES;
    expect([runc.hostPidsLimit(100), runsc.hostPidsLimit(100)]).toEqual([100, 812]);
    expect([runc.memoryPolicy, runsc.memoryPolicy]).toEqual(["kernel", "guard"]);
    expect([runc.agentReadyTimeoutMs, runsc.agentReadyTimeoutMs]).toEqual([15_000, 30_000]);
    expect([runc.docker.rootOnHost, runsc.docker.rootOnHost]).toEqual([true, false]);
    expect([runc.docker.hostNetwork, runsc.docker.hostNetwork]).toEqual([false, true]);
    expect(runc.docker.dockerdScript("/log")).toBe("exec dockerd >/log 2>&1");
    expect(runsc.docker.dockerdScript("/log")).toMatch(/^set -e\n[^]*--bridge=none >\/log 2>&1$/);
  });

  it("give a gVisor sandbox's host cgroup headroom above its nominal memory", () => {
    expect(gvisorHardLimitBytes(256)).toBe((256 + 512) * 2 ** 20);
    expect(gvisorHardLimitBytes(2048)).toBe(4096 * 2 ** 20);
  });
});
