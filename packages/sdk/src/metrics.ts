import { SandboxMetricsSchema, type SandboxMetrics } from "@paddock/protocol";
import type { HttpClient } from "./http.js";

/** A sandbox's resource use, as the daemon reads it on the host (see SandboxMetrics). */
export function getMetrics(http: HttpClient, id: string): Promise<SandboxMetrics> {
  return http.json("GET", `/v1/sandboxes/${encodeURIComponent(id)}/metrics`, SandboxMetricsSchema);
}
