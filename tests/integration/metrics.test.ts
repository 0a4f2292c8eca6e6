import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Keys, Sandbox, SandboxNotFoundError } from "paddock";
import { SandboxMetricsSchema, type SandboxMetrics } from "@paddock/protocol";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { paddock } from "../helpers/cli.js";
import { RUNTIMES } from "../helpers/paths.js";
import { FAKE_HOSTS, startFakeInternet, type FakeInternet } from "../helpers/net.js";

const MiB = 2 ** 20;

let net: FakeInternet;
let daemon: TestDaemon;
beforeAll(async () => {
  // A fake internet for the network counters (tests/helpers/net.ts): no packet leaves the machine.
  net = await startFakeInternet({ bigFileMiB: 4 });
  daemon = await startDaemon(undefined, net.daemonEnv);
});
afterAll(async () => {
  await daemon?.stop();
  await net?.stop();
});

describe.each(RUNTIMES)("sandbox metrics on %s, read on the host", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({ ...daemon.client, runtime, memoryMiB: 160, diskMiB: 256 });
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  const metrics = async (): Promise<SandboxMetrics> =>
    SandboxMetricsSchema.parse(await sandbox.metrics());

  it("shows memory held, CPU burnt and disk written, each beside its limit", async () => {
    const before = await metrics();
    expect(before).toMatchObject({
      sandboxId: sandbox.id,
      state: "running",
      runtime,
      cpu: { limitCores: 1 },
      memory: { limitBytes: 160 * MiB },
      disk: { limitBytes: 256 * MiB },
      oomKills: 0,
    });
    expect(before.network).toBeUndefined();
    expect(before.pids.current).toBeGreaterThan(0);
    expect(before.memory.workingSetBytes).toBeGreaterThan(0);

    // 48 MiB in /dev/shm (a tmpfs: memory the sandbox holds) and 32 MiB on its disk.
    const held = await sandbox.process.run(
      "dd if=/dev/zero of=/dev/shm/held bs=1M count=48 && dd if=/dev/zero of=/written bs=1M count=32 conv=fsync",
    );
    expect((await held.wait()).exitCode).toBe(0);
    const after = await metrics();
    expect(after.memory.workingSetBytes - before.memory.workingSetBytes).toBeGreaterThan(40 * MiB);
    expect(after.disk.usedBytes - before.disk.usedBytes).toBeGreaterThan(28 * MiB);

    const burn = await sandbox.process.run("while :; do :; done", { timeoutMs: 10_000 });
    try {
      // Each read after the first is a rate over the time since the one before.
      await vi.waitFor(async () => expect((await metrics()).cpu.usedCores).toBeGreaterThan(0.5), {
        timeout: 8000,
        interval: 600,
      });
    } finally {
      await burn.kill("SIGKILL");
    }
  });

  it("counts a process killed for memory", async () => {
    await sandbox.process.run("rm -f /dev/shm/held").then((p) => p.wait());
    const hog = await sandbox.process.run("x=a; while true; do x=$x$x; done", {
      timeoutMs: 60_000,
    });
    expect((await hog.wait()).oomKilled).toBe(true);
    await vi.waitFor(async () => expect((await metrics()).oomKills).toBeGreaterThanOrEqual(1), {
      timeout: 5000,
    });
  });

  it("paddock stats ID --json and paddock top --json", async () => {
    const stats = await paddock(daemon, ["stats", sandbox.id, "--json"]);
    expect(stats.code).toBe(0);
    expect(SandboxMetricsSchema.parse(JSON.parse(stats.stdout)).sandboxId).toBe(sandbox.id);
    const top = await paddock(daemon, ["top", "--once"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain(sandbox.id);
    expect(top.stdout).toMatch(/CPU\s+MEM/);
  });
});

describe.each(RUNTIMES)("network bytes on %s", (runtime) => {
  it("a sandbox with a network shows what it received and sent, read from its namespace", async () => {
    const sandbox = await Sandbox.create({
      ...daemon.client,
      runtime,
      memoryMiB: 128,
      network: { egress: "all" },
    });
    try {
      const before = (await sandbox.metrics()).network!;
      expect(before).toBeDefined();
      const fetched = await sandbox.process.run(
        `wget -q -O /dev/null http://${FAKE_HOSTS.allowed}/big.bin`,
      );
      expect((await fetched.wait()).exitCode).toBe(0);
      const after = (await sandbox.metrics()).network!;
      expect(after.rxBytes - before.rxBytes).toBeGreaterThanOrEqual(net.bigFileBytes);
      expect(after.txBytes).toBeGreaterThan(before.txBytes);
    } finally {
      await sandbox.terminate();
    }
  });
});

describe("Prometheus metrics", () => {
  it("GET /metrics: sandboxes by state, counters, request latency by route pattern, per-sandbox series; admin only", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime: "runc", memoryMiB: 64 });
    try {
      await sandbox.metrics();
      const res = await daemon.api("GET", "/metrics");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toMatch(/^paddock_sandboxes\{state="running",runtime="runc"\} [1-9]/m);
      expect(text).toMatch(/^paddock_sandbox_creates_total\{runtime="runc"\} [1-9]/m);
      expect(text).toMatch(/^paddock_sandbox_create_seconds_count\{runtime="runc"\} [1-9]/m);
      expect(text).toContain(
        'paddock_api_request_seconds_count{method="GET",route="/v1/sandboxes/:id/metrics"}',
      );
      expect(text).not.toContain(`route="/v1/sandboxes/${sandbox.id}`);
      expect(text).toMatch(
        new RegExp(
          `^paddock_sandbox_memory_working_set_bytes\\{sandbox_id="${sandbox.id}",runtime="runc"\\} [1-9]`,
          "m",
        ),
      );
      expect(text).toContain(`paddock_sandbox_cpu_seconds_total{sandbox_id="${sandbox.id}"`);
      expect(text).toContain(`paddock_sandbox_disk_used_bytes{sandbox_id="${sandbox.id}"`);
      expect(text).toContain("paddock_daemon_cpu_seconds_total");

      expect((await fetch(`${daemon.url}/metrics`)).status).toBe(401);
      const { key } = await new Keys(daemon.client).create("metrics-reader");
      const asKey = { url: daemon.url, token: key };
      const forbidden = await fetch(`${daemon.url}/metrics`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(forbidden.status).toBe(403);
      // A key reads only its own sandboxes' metrics.
      await expect(Sandbox.metrics(sandbox.id, asKey)).rejects.toBeInstanceOf(SandboxNotFoundError);
    } finally {
      await sandbox.terminate();
    }
    const text = await (await daemon.api("GET", "/metrics")).text();
    expect(text).not.toContain(`sandbox_id="${sandbox.id}"`);
    expect(text).toMatch(
      /^paddock_sandbox_terminations_total\{runtime="runc",reason="request"\} [1-9]/m,
    );
    // An ended sandbox has nothing to read.
    const ended = await daemon.api("GET", `/v1/sandboxes/${sandbox.id}/metrics`);
    expect(ended.status).toBe(409);
  });

  it("--metrics-public opens /metrics; --no-sandbox-metrics leaves per-sandbox series out", async () => {
    const open = await startDaemon(undefined, {
      PADDOCK_METRICS_PUBLIC: "1",
      PADDOCK_SANDBOX_METRICS: "0",
    });
    try {
      const res = await fetch(`${open.url}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain("paddock_sandboxes{");
      expect(text).not.toContain("paddock_sandbox_memory_working_set_bytes");
      // The rest of the API still needs a token.
      expect((await fetch(`${open.url}/v1/sandboxes`)).status).toBe(401);
    } finally {
      await open.stop();
    }
  });
});
