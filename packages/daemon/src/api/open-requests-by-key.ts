import type { FastifyInstance } from "fastify";

declare module "fastify" {
  interface FastifyRequest {
    /** Aborted when the API key that made this request is revoked; never, for the admin. */
    keyRevoked: AbortSignal;
  }
}

const NEVER = new AbortController().signal;

/**
 * The requests in flight of each API key, so that revoking a key ends them at once: exec and
 * attach streams, downloads and uploads, anything still open. Ending one means destroying its
 * connection, which every route already treats as a client that left (the agent's side is
 * cut, a foreground process is killed, a partial upload is dropped), so no route needs to know
 * about revocation. Handlers that do work after an await can also check `request.keyRevoked`.
 */
export class OpenRequestsByKey {
  private readonly open = new Map<string, Set<AbortController>>();

  /** Tracks every request made with an API key; register after the auth hook. */
  register(app: FastifyInstance): void {
    app.decorateRequest("keyRevoked", null as unknown as AbortSignal);
    app.addHook("onRequest", async (request, reply) => {
      const name = request.principal?.admin === false ? request.principal.name : null;
      if (!name) {
        request.keyRevoked = NEVER;
        return;
      }
      const controller = new AbortController();
      controller.signal.addEventListener("abort", () => request.raw.socket?.destroy(), {
        once: true,
      });
      request.keyRevoked = controller.signal;
      let requests = this.open.get(name);
      if (!requests) this.open.set(name, (requests = new Set()));
      requests.add(controller);
      reply.raw.once("close", () => {
        requests.delete(controller);
        if (requests.size === 0 && this.open.get(name) === requests) this.open.delete(name);
      });
    });
  }

  /** Ends every open request of the key; returns how many there were. */
  abort(name: string): number {
    const requests = this.open.get(name);
    this.open.delete(name);
    for (const controller of requests ?? []) controller.abort();
    return requests?.size ?? 0;
  }
}
