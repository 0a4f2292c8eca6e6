import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import {
  ErrorBodySchema,
  SandboxIdParamsSchema,
  SandboxNetworkSchema,
  UpdateNetworkRequestSchema,
  type NetworkPolicy,
  type SandboxNetwork,
} from "@paddock/protocol";

/** What the network route needs of the daemon's sandbox networking. */
export interface NetworkPolicies {
  /** Replaces a running sandbox's policy; new connections follow it. */
  update(id: string, policy: NetworkPolicy): Promise<SandboxNetwork>;
  /** The sandbox's policy and address. */
  get(id: string): SandboxNetwork;
}

/** A sandbox's egress policy: read and replace it while the sandbox runs. */
export function networkRoutes(network: NetworkPolicies): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/v1/sandboxes/:id/network",
      {
        schema: {
          summary: "A sandbox's egress policy and address",
          params: SandboxIdParamsSchema,
          response: { 200: SandboxNetworkSchema, "4xx": ErrorBodySchema },
        },
      },
      async (request) => network.get(request.params.id),
    );
    app.put(
      "/v1/sandboxes/:id/network",
      {
        schema: {
          summary:
            "Replace a running sandbox's egress policy (egress, allow, deny); new connections follow it within a second. A sandbox created with egress none cannot be given a network",
          params: SandboxIdParamsSchema,
          body: UpdateNetworkRequestSchema,
          response: { 200: SandboxNetworkSchema, "4xx": ErrorBodySchema, "5xx": ErrorBodySchema },
        },
      },
      async (request) => network.update(request.params.id, request.body),
    );
  };
}
