import { beforeEach, describe, expect, it, vi } from "vitest";
import type { SandboxRecord } from "../src/state/sandbox-store.js";

/**
 * The spec limits capabilities to the daemon's own bounding set, read from /proc/self/status.
 * Pretend the daemon lacks CAP_SYS_RESOURCE (bit 24) so the result does not depend on the host.
 */
vi.mock("node:fs", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs")>();
  const readFileSync = ((file: unknown, ...rest: unknown[]) =>
    file === "/proc/self/status"
      ? "Name:\tnode\nCapBnd:\t000001fffeffffff\n"
      : (actual.readFileSync as (...a: unknown[]) => unknown)(
          file,
          ...rest,
        )) as typeof actual.readFileSync;
  return { ...actual, readFileSync, default: { ...actual, readFileSync } };
});

const { buildSpec } = await import("../src/runtimes/oci-spec.js");
const { SANDBOX_PATH } = await import("@paddock/protocol");

interface Spec {
  process: {
    args: string[];
    env: string[];
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    rlimits: { type: string; hard: number; soft: number }[];
  };
  root: { path: string };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: {
    namespaces: { type: string; path?: string }[];
    cgroupsPath: string;
    resources: {
      memory: { limit: number };
      cpu: { quota: number; period: number };
      pids: { limit: number };
    };
  };
}

function record(overrides: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id: "sb_0123456789abcdef",
    image: "busybox",
    runtime: "runc",
    state: "creating",
    cpu: 0.5,
    memoryMiB: 256,
    pidsLimit: 100,
    timeoutSeconds: 300,
    labels: {},
    env: { FOO: "bar", WITH_EQUALS: "a=b" },
    createdAt: new Date(0).toISOString(),
    expiresAt: new Date(300_000).toISOString(),
    terminatedAt: null,
    reason: null,
    agentVersion: null,
    docker: false,
    owner: null,
    ...overrides,
  };
}

function spec(overrides: Partial<SandboxRecord> = {}, capabilities?: readonly string[]): Spec {
  return buildSpec({
    sandbox: record(overrides),
    rootfs: "/data/sandboxes/sb_0123456789abcdef/rootfs",
    agentRuntimeDir: "/data/agent-runtime/abc",
    socketDir: "/data/sandboxes/sb_0123456789abcdef/sock",
    cgroupsPath: "/paddock/sb_0123456789abcdef",
    ...(capabilities ? { capabilities } : {}),
  }) as unknown as Spec;
}

describe("buildSpec", () => {
  let s: Spec;
  beforeEach(() => {
    s = spec();
  });

  it("limits memory in bytes", () => {
    expect(s.linux.resources.memory.limit).toBe(256 * 1024 * 1024);
  });

  it("gives half a core as 50000 of 100000", () => {
    expect(s.linux.resources.cpu).toEqual({ quota: 50_000, period: 100_000 });
    expect(spec({ cpu: 2 }).linux.resources.cpu.quota).toBe(200_000);
  });

  it("limits pids", () => {
    expect(s.linux.resources.pids.limit).toBe(100);
  });

  it("keeps the user's env out of the agent's own, as JSON for user processes", () => {
    expect(s.process.env).toContain(`PATH=${SANDBOX_PATH}`);
    expect(s.process.env).not.toContain("FOO=bar");
    const userEnv = s.process.env.find((e: string) => e.startsWith("PADDOCK_USER_ENV="))!;
    expect(JSON.parse(userEnv.slice("PADDOCK_USER_ENV=".length))).toMatchObject({
      FOO: "bar",
      WITH_EQUALS: "a=b",
    });
    expect(s.process.env).toContain("PADDOCK_AGENT_SOCKET=/.paddock/sock/agent.sock");
    expect(s.process.env).toContain("PADDOCK_SANDBOX_ID=sb_0123456789abcdef");
  });

  it("runs tini first, then the agent through the bundled loader and node", () => {
    expect(s.process.args[0]).toBe("/.paddock/runtime/tini");
    expect(s.process.args.slice(3, 5)).toEqual([
      "/.paddock/runtime/paddock-init",
      "/.paddock/runtime/ld-linux-x86-64.so.2",
    ]);
    expect(s.process.args.at(-1)).toBe("/.paddock/runtime/agent.js");
  });

  it("never grants CAP_SYS_RESOURCE when the daemon lacks it, even if asked", () => {
    const asked = spec({}, ["CAP_KILL", "CAP_SYS_RESOURCE", "CAP_NET_BIND_SERVICE"]);
    for (const set of Object.values(asked.process.capabilities)) {
      expect(set).not.toContain("CAP_SYS_RESOURCE");
      expect(set).toEqual(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    }
  });

  it("grants the default set when none is asked for", () => {
    expect(s.process.capabilities.bounding).toContain("CAP_CHOWN");
    expect(s.process.capabilities.bounding).not.toContain("CAP_SYS_ADMIN");
    expect(s.process.capabilities.bounding).not.toContain("CAP_SYS_RESOURCE");
  });

  it("has its own empty network namespace", () => {
    const net = s.linux.namespaces.find((n) => n.type === "network");
    expect(net).toBeDefined();
    expect(net?.path).toBeUndefined();
    for (const type of ["pid", "mount", "ipc", "uts"]) {
      expect(s.linux.namespaces.map((n) => n.type)).toContain(type);
    }
  });

  it("with a network: runc joins the sandbox's namespace by path, runsc has none in the spec (it starts inside)", () => {
    const withNet = (runtime: "runc" | "runsc") =>
      buildSpec({
        sandbox: record({ runtime }),
        rootfs: "/r",
        agentRuntimeDir: "/a",
        socketDir: "/s",
        cgroupsPath: "/paddock/sb_0123456789abcdef",
        netnsPath: "/run/netns/paddock-sb_0123456789abcdef",
      }) as unknown as Spec;
    const runc = withNet("runc");
    expect(runc.linux.namespaces.filter((n) => n.type === "network")).toEqual([
      { type: "network", path: "/run/netns/paddock-sb_0123456789abcdef" },
    ]);
    const runsc = withNet("runsc");
    expect(runsc.linux.namespaces.some((n) => n.type === "network")).toBe(false);
    for (const networked of [runc, runsc])
      expect(networked.process.env).toContain("PADDOCK_NETWORK=1");
    expect(s.process.env.some((e) => e.startsWith("PADDOCK_NETWORK="))).toBe(false);
  });

  it("mounts the agent runtime read-only and the socket dir read-write", () => {
    const runtime = s.mounts.find((m) => m.destination === "/.paddock/runtime");
    const sock = s.mounts.find((m) => m.destination === "/.paddock/sock");
    expect(runtime?.source).toBe("/data/agent-runtime/abc");
    expect(runtime?.options).toContain("ro");
    expect(sock?.source).toBe("/data/sandboxes/sb_0123456789abcdef/sock");
    expect(sock?.options).toContain("rw");
  });

  it("uses the given rootfs, cgroup path and a hostname without underscores", () => {
    expect(s.root.path).toBe("/data/sandboxes/sb_0123456789abcdef/rootfs");
    expect(s.linux.cgroupsPath).toBe("/paddock/sb_0123456789abcdef");
    expect(s.hostname).toBe("sb-0123456789abcdef");
  });

  it("sets an open-files limit no higher than 65536", () => {
    const nofile = s.process.rlimits.find((r) => r.type === "RLIMIT_NOFILE");
    expect(nofile).toBeDefined();
    expect(nofile!.hard).toBeGreaterThan(0);
    expect(nofile!.hard).toBeLessThanOrEqual(65536);
    expect(nofile!.soft).toBe(nofile!.hard);
  });
});
