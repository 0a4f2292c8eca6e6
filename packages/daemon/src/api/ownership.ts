import type { FastifyInstance } from "fastify";
import { PaddockError } from "../errors.js";
import type { SandboxStore } from "../state/sandbox-store.js";

/**
 * A key sees only the sandboxes it created: on any route naming a sandbox, another key's
 * sandbox answers exactly as a missing one does (404), so ids cannot be probed.
 */
export function registerOwnership(app: FastifyInstance, store: SandboxStore): void {
  app.addHook("preHandler", async (request) => {
    const id = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof id !== "string" || !request.principal || request.principal.admin) return;
    if (!request.routeOptions.url?.startsWith("/v1/sandboxes/:id")) return;
    const record = store.get(id);
    if (!record || record.owner !== request.principal.name) {
      throw new PaddockError(
        "sandbox_not_found",
        `no sandbox ${id}; list sandboxes with \`paddock list\``,
      );
    }
  });
}
