import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { EventBus } from "../src/events/event-bus.js";
import { DaemonMetrics } from "../src/metrics/prometheus.js";
import type { SandboxMetricsReader } from "../src/metrics/sandbox-metrics.js";
import type { SandboxRecord, SandboxStore } from "../src/state/sandbox-store.js";

const record = (id: string, state: SandboxRecord["state"]) =>
  ({ id, state, runtime: "runsc", memoryMiB: 256, diskMiB: 1024 }) as SandboxRecord;

function metrics(perSandbox: boolean) {
  const live = [record("sb_run", "running"), record("sb_new", "creating")];
  const store = { inStates: () => live } as unknown as SandboxStore;
  let reads = 0;
  const reader = {
    usage: () => {
      reads++;
      return { cpuSeconds: 1.5, workingSetBytes: 42 * 2 ** 20, diskUsedBytes: 7 };
    },
  } as unknown as SandboxMetricsReader;
  const events = new EventBus();
  return {
    m: new DaemonMetrics({ store, reader, events, perSandbox }),
    events,
    reads: () => reads,
  };
}

describe("DaemonMetrics", () => {
  it("counts lifecycle events and create times per runtime", async () => {
    const { m, events } = metrics(false);
    const base = { sandboxId: "sb_x", runtime: "runc" as const, owner: null, reason: null };
    events.emit({ ...base, type: "created", createMs: 300 });
    events.emit({ ...base, type: "failed", reason: "agent died" });
    events.emit({ ...base, type: "expired", reason: "timeout" });
    const text = await m.text();
    expect(text).toContain('paddock_sandbox_creates_total{runtime="runc"} 1');
    expect(text).toContain('paddock_sandbox_creates_total{runtime="runsc"} 0');
    expect(text).toContain('paddock_sandbox_failures_total{runtime="runc"} 1');
    expect(text).toContain('paddock_sandbox_terminations_total{runtime="runc",reason="timeout"} 1');
    expect(text).toContain('paddock_sandbox_create_seconds_bucket{le="0.5",runtime="runc"} 1');
    expect(text).toContain('paddock_sandboxes{state="creating",runtime="runsc"} 1');
    expect(text).not.toContain("sandbox_id=");
  });

  it("per-sandbox series for sandboxes with a cgroup, read once per scrape", async () => {
    const { m, reads } = metrics(true);
    const text = await m.text();
    expect(text).toContain(
      'paddock_sandbox_cpu_seconds_total{sandbox_id="sb_run",runtime="runsc"} 1.5',
    );
    expect(text).toContain(
      `paddock_sandbox_memory_working_set_bytes{sandbox_id="sb_run",runtime="runsc"} ${42 * 2 ** 20}`,
    );
    expect(text).toContain(
      `paddock_sandbox_memory_limit_bytes{sandbox_id="sb_run",runtime="runsc"} ${256 * 2 ** 20}`,
    );
    expect(text).not.toContain('sandbox_id="sb_new"');
    expect(reads()).toBe(1);
  });

  it("labels requests by route pattern and counts errors and bytes", async () => {
    const { m } = metrics(false);
    const app = Fastify();
    m.instrument(app);
    app.get("/v1/sandboxes/:id", async (request, reply) =>
      (request.params as { id: string }).id === "bad" ? reply.status(404).send("no") : "ok",
    );
    await app.inject({ method: "GET", url: "/v1/sandboxes/sb_1" });
    await app.inject({ method: "GET", url: "/v1/sandboxes/bad" });
    await app.inject({ method: "GET", url: "/nowhere" });
    const text = await m.text();
    expect(text).toContain(
      'paddock_api_request_seconds_count{method="GET",route="/v1/sandboxes/:id"} 2',
    );
    expect(text).toContain(
      'paddock_api_request_errors_total{method="GET",route="/v1/sandboxes/:id",status="404"} 1',
    );
    expect(text).toContain('route="unmatched",status="404"} 1');
    expect(text).not.toContain("sb_1");
    await app.close();
  });
});
