import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import {
  ErrorBodySchema,
  PROMETHEUS_CONTENT_TYPE,
  SandboxIdParamsSchema,
  SandboxMetricsSchema,
} from "@paddock/protocol";
import type { DaemonMetrics } from "../../metrics/prometheus.js";
import type { SandboxMetricsReader } from "../../metrics/sandbox-metrics.js";
import type { SandboxService } from "../../sandboxes/sandbox-service.js";

export interface MetricsRouteDeps {
  prometheus: DaemonMetrics;
  reader: SandboxMetricsReader;
  sandboxes: SandboxService;
  /** `GET /metrics` needs no token (daemon flag --metrics-public); otherwise the admin's. */
  public: boolean;
}

/** A sandbox's resource use, and the daemon's Prometheus metrics. */
export function metricsRoutes(deps: MetricsRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/v1/sandboxes/:id/metrics",
      {
        schema: {
          summary:
            "A sandbox's CPU, memory, disk, tasks, OOM kills and network bytes, read on the host from its cgroup, disk and namespace",
          params: SandboxIdParamsSchema,
          response: { 200: SandboxMetricsSchema, "4xx": ErrorBodySchema },
        },
      },
      async (request) => deps.reader.read(deps.sandboxes.get(request.params.id)),
    );

    // Per-sandbox series name every sandbox: an API key (which sees only its own) may not read
    // them, unless the operator opened the route.
    app.get(
      "/metrics",
      {
        config: deps.public ? { public: true } : { adminOnly: true },
        schema: { summary: "Prometheus metrics (text format)", hide: false },
      },
      async (_request, reply) =>
        reply.type(PROMETHEUS_CONTENT_TYPE).send(await deps.prometheus.text()),
    );
  };
}
