import Fastify, { type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from "fastify-type-provider-zod";
import { PROTOCOL_VERSION, MAX_HEADER_BYTES } from "@paddock/protocol";
import type { ImageService } from "../images/image-service.js";
import type { Registries } from "../images/registries.js";
import type { Logger } from "../logger.js";
import type { PortService } from "../ports/port-service.js";
import type { SandboxService } from "../sandboxes/sandbox-service.js";
import { registerAuth } from "./auth.js";
import { OpenRequestsByKey } from "./open-requests-by-key.js";
import { registerOwnership } from "./ownership.js";
import { keyRoutes } from "./routes/keys.js";
import type { KeyStore } from "../state/key-store.js";
import type { SandboxStore } from "../state/sandbox-store.js";
import { registerErrorHandler } from "./error-handler.js";
import { imageRoutes, RAW_BODY_TYPES } from "./routes/images.js";
import { imageBuildRoutes } from "./routes/image-build.js";
import { ImageBuilder } from "../docker/image-builder.js";
import { registryRoutes } from "./routes/registries.js";
import { DockerService } from "../docker/docker-service.js";
import { dockerRoutes } from "./routes/docker.js";
import { fileRoutes } from "./routes/files.js";
import { watchRoutes } from "./routes/watch.js";
import { networkRoutes, type NetworkPolicies } from "./routes/network.js";
import { portRoutes } from "./routes/ports.js";
import { processRoutes } from "./routes/processes.js";
import { codeRoutes } from "./routes/code.js";
import { processStreamRoutes } from "./routes/process-stream.js";
import { sandboxRoutes } from "./routes/sandboxes.js";
import { lifecycleRoutes } from "./routes/lifecycle.js";
import { systemRoutes } from "./routes/system.js";
import { warmPoolRoutes } from "./routes/warm-pools.js";
import type { WarmPools } from "../sandboxes/warm-pool.js";
import { snapshotRoutes } from "./routes/snapshots.js";
import type { SnapshotService } from "../snapshots/snapshot-service.js";
import { metricsRoutes, type MetricsRouteDeps } from "./routes/metrics.js";
import { eventRoutes } from "./routes/events.js";
import type { EventBus } from "../events/event-bus.js";
import { uiRoutes } from "./routes/ui.js";
import { registerTicketAuth, Tickets, ticketRoutes } from "./routes/tickets.js";

export interface ApiDeps {
  token: string;
  sandboxes: SandboxService;
  images: ImageService;
  /** Registry credentials; without it (unit tests) there are no registry routes. */
  registries?: Registries;
  ports: PortService;
  /** Sandbox networking; without it (unit tests) there is no network route. */
  network?: NetworkPolicies;
  keys: KeyStore;
  /** Warm pools; without it (unit tests) there are no warm-pool routes. */
  warmPools?: Pick<WarmPools, "list" | "set">;
  /** Snapshots; without it (unit tests) there are no snapshot routes. */
  snapshots?: SnapshotService;
  /** Metrics and lifecycle events; without them (unit tests) no /metrics nor /v1/events. */
  metrics?: Omit<MetricsRouteDeps, "sandboxes">;
  events?: EventBus;
  store: SandboxStore;
  log: Logger;
  /** The daemon's own directories (data dir, image store): no API key sees a path under them. */
  hostDirs?: readonly string[];
  /** Serve the web console at /ui (routes/ui.ts). */
  ui?: boolean;
}

/** The HTTP API: routes parse and validate, services do the work. */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  // forceCloseConnections: a long exec or log stream must not hold a shutdown open.
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
    http: { maxHeaderSize: MAX_HEADER_BYTES },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: {
      info: { title: "Paddock API", version: PROTOCOL_VERSION },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  registerErrorHandler(app, deps.log, deps.hostDirs);
  // Uploads are passed on as streams, never parsed or buffered.
  app.addContentTypeParser(RAW_BODY_TYPES, (_request, payload, done) => done(null, payload));
  // Before the auth hook: browsers' WebSockets and downloads use tickets (routes/tickets.ts).
  const tickets = new Tickets();
  registerTicketAuth(app, tickets);
  registerAuth(app, deps.token, deps.keys);
  const openRequests = new OpenRequestsByKey();
  openRequests.register(app);
  registerOwnership(app, deps.store);
  // An upgrade request answered over HTTP (refused, or to a route that is no WebSocket) has a
  // socket Node's HTTP server let go of at the upgrade: it is closed once the answer is out.
  app.addHook("onResponse", async (request) => {
    if ((request.raw as { upgrade?: boolean }).upgrade) request.raw.socket.destroy();
  });
  deps.metrics?.prometheus.instrument(app);
  await app.register(systemRoutes);
  await app.register(sandboxRoutes(deps.sandboxes));
  await app.register(lifecycleRoutes(deps.sandboxes));
  if (deps.snapshots) await app.register(snapshotRoutes(deps.snapshots));
  await app.register(imageRoutes(deps.images, deps.hostDirs));
  if (deps.registries) await app.register(registryRoutes(deps.registries));
  await app.register(processRoutes(deps.sandboxes));
  await app.register(codeRoutes(deps.sandboxes));
  await app.register(processStreamRoutes(deps.sandboxes, deps.hostDirs));
  await app.register(fileRoutes(deps.sandboxes));
  await app.register(watchRoutes(deps.sandboxes));
  if (deps.metrics)
    await app.register(metricsRoutes({ ...deps.metrics, sandboxes: deps.sandboxes }));
  if (deps.events) await app.register(eventRoutes(deps.events));
  await app.register(portRoutes(deps.ports, deps.sandboxes));
  if (deps.network) await app.register(networkRoutes(deps.network));
  const docker = new DockerService(deps.sandboxes, deps.images.pulled);
  await app.register(dockerRoutes(docker));
  await app.register(
    imageBuildRoutes(
      new ImageBuilder(deps.images, deps.sandboxes, docker, deps.log),
      deps.hostDirs,
    ),
  );
  await app.register(keyRoutes(deps.keys, { requests: openRequests, ports: deps.ports }));
  if (deps.warmPools) await app.register(warmPoolRoutes(deps.warmPools));
  await app.register(ticketRoutes(tickets));
  if (deps.ui) await app.register(uiRoutes());
  return app;
}
