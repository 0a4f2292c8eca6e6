import { mkdir, realpath } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { ensureAgentRuntime } from "./agent/runtime-dir.js";
import { loadOrCreateToken } from "./api/auth.js";
import { buildApi } from "./api/server.js";
import type { DaemonConfig } from "./config.js";
import { ImageStore } from "./images/image-store.js";
import { ImageService } from "./images/image-service.js";
import { PulledImages, pinnedDigest } from "./images/pulled-images.js";
import { Registries } from "./images/registries.js";
import { Layout } from "./layout.js";
import type { Logger } from "./logger.js";
import { createRuntimes } from "./runtimes/index.js";
import { recover } from "./sandboxes/recovery.js";
import { startReaper } from "./sandboxes/reaper.js";
import { startMonitor } from "./sandboxes/monitor.js";
import { startMemoryGuard } from "./sandboxes/memory-guard.js";
import { SandboxService } from "./sandboxes/sandbox-service.js";
import { WarmPools } from "./sandboxes/warm-pool.js";
import { openDatabase } from "./state/database.js";
import { LIVE_STATES, SandboxStore } from "./state/sandbox-store.js";
import { SnapshotStore } from "./state/snapshot-store.js";
import { SnapshotService } from "./snapshots/snapshot-service.js";
import { PortStore } from "./state/port-store.js";
import { KeyStore } from "./state/key-store.js";
import { PortService } from "./ports/port-service.js";
import { NetworkService } from "./network/network-service.js";
import { DnsRelay } from "./network/dns-relay.js";
import { EventBus } from "./events/event-bus.js";
import { SandboxMetricsReader } from "./metrics/sandbox-metrics.js";
import { DaemonMetrics } from "./metrics/prometheus.js";
import { startE2bServer, type RunningE2bServer } from "./e2b/server.js";

export interface RunningDaemon {
  url: string;
  port: number;
  app: FastifyInstance;
  /** The E2B-compatible API, when served (`e2bPort`). */
  e2b?: { url: string; port: number };
  close(): Promise<void>;
}

/** Starts the daemon: state, recovery after a crash, the reaper, then the API. */
export async function startDaemon(
  config: DaemonConfig,
  log: Logger = pino({ level: process.env.PADDOCK_LOG_LEVEL ?? "info" }, pino.destination(2)),
): Promise<RunningDaemon> {
  const layout = new Layout(config.dataDir);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await mkdir(layout.sandboxesDir, { recursive: true, mode: 0o700 });
  await mkdir(config.imagesDir, { recursive: true });

  if (config.allowRuncDocker) {
    log.warn(
      "--allow-runc-docker: the admin token may create Docker sandboxes under runc, which have root on the host",
    );
  }
  const token = await loadOrCreateToken(layout.tokenFile);
  const db = openDatabase(layout.database);
  const store = new SandboxStore(db);
  const snapshotStore = new SnapshotStore(db);
  const runtimes = createRuntimes(layout);
  const registries = new Registries(layout.registryAuthFile, config.insecureRegistries);
  const images = new ImageService(
    // Snapshots hold their image too: a sandbox started from one reads it.
    new ImageStore(config.imagesDir, (name) => [
      ...store.usingImage(name),
      ...snapshotStore.usingImage(name),
    ]),
    new PulledImages(config.imagesDir, registries, () => [
      ...store.inStates(LIVE_STATES),
      ...snapshotStore.list().map((s) => s.sandbox),
    ]),
  );
  const agentRuntimeDir = await ensureAgentRuntime(layout.agentRuntimesDir);
  const policy = { allowRuncDocker: config.allowRuncDocker };
  const network = new NetworkService({ ...config.network, log });
  const dns = new DnsRelay({ upstream: config.network.dnsUpstream, network, log });
  const events = new EventBus();
  const sandboxes: SandboxService = new SandboxService({
    events,
    network,
    dns,
    limits: config.limits,
    policy,
    store,
    images,
    runtimes,
    layout,
    agentRuntimeDir,
    // A create first looks for a ready sandbox of a matching warm pool.
    claim: (request, caller) => warmPools.claim(request, caller),
    snapshots: { find: (ref, caller) => snapshots.find(ref, caller) },
    log,
  });
  const snapshots = new SnapshotService({
    store: snapshotStore,
    sandboxes,
    layout,
    log,
  });
  const warmPools = new WarmPools({ store, service: sandboxes, policy, log });

  const keys = new KeyStore(db);
  const ports = new PortService({
    store: new PortStore(db),
    sandboxes,
    bindAddress: config.portBindAddress,
    keysExist: () => keys.any(),
    log,
  });
  sandboxes.onEnd((id) => ports.release(id));
  // A removed pulled image's files go once its last sandbox has ended: end listeners run before
  // the teardown, so the collection waits for the sandbox's final state.
  sandboxes.onEnd(async (id) => {
    if (pinnedDigest(store.get(id)?.image ?? "")) void collectWhenEnded(id).catch(() => {});
  });
  const collectWhenEnded = async (id: string) => {
    for (let i = 0; i < 1200; i++) {
      const state = store.get(id)?.state;
      if (state !== "terminating" && state !== "running") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await images.pulled
      .collect()
      .catch((err: unknown) => log.warn({ err: String(err) }, "collecting removed images failed"));
  };

  // Pool sandboxes of a killed daemon belong to nobody: gone before recovery looks.
  await warmPools.removeLeftovers();
  await recover({ store, service: sandboxes, runtimes, layout, policy, network, dns, log });
  await ports.restore();
  await snapshots.sweep();
  await images.start();
  const stopReaper = startReaper(store, sandboxes, config.reapIntervalMs, log);
  const stopMonitor = startMonitor(store, sandboxes, config.monitorIntervalMs, log);
  const metricsReader = new SandboxMetricsReader(layout);
  const prometheus = new DaemonMetrics({
    store,
    reader: metricsReader,
    events,
    perSandbox: config.metrics.perSandbox,
  });
  // What is kept per sandbox for CPU rates goes with the sandbox.
  events.subscribe((e) => {
    if (e.type !== "created" && e.type !== "paused" && e.type !== "resumed")
      metricsReader.forget(e.sandboxId);
  });
  const stopMemoryGuard = startMemoryGuard(
    store,
    sandboxes,
    config.memoryGuardIntervalMs,
    log,
    () => prometheus.countMemoryGuardKill(),
  );
  warmPools.set(config.warmPools);

  const app = await buildApi({
    token,
    sandboxes,
    images,
    registries,
    ports,
    network: {
      get: (id) => sandboxes.networkOf(id),
      update: (id, update) => sandboxes.updateNetwork(id, update),
    },
    keys,
    warmPools,
    snapshots,
    store,
    log,
    hostDirs: await hostDirsOf(config),
    metrics: { prometheus, reader: metricsReader, public: config.metrics.public },
    events,
    ui: config.ui,
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  log.info({ url, dataDir: config.dataDir }, "paddock daemon listening");
  // Served beside the API, and calling it: a wildcard bind is reached on loopback.
  let e2b: RunningE2bServer | undefined;
  if (config.e2bPort !== null) {
    const wildcard = config.host === "0.0.0.0" || config.host === "::";
    e2b = await startE2bServer({
      host: config.host,
      port: config.e2bPort,
      daemonUrl: wildcard ? `http://127.0.0.1:${port}` : url,
      log,
    });
  }

  return {
    url,
    port,
    app,
    e2b: e2b && { url: e2b.url, port: e2b.port },
    async close() {
      await e2b?.close();
      stopReaper();
      stopMonitor();
      stopMemoryGuard();
      await ports.closeAll();
      await app.close();
      // Pool sandboxes belong to nobody: they do not outlive the daemon as others do.
      await warmPools.close();
      await sandboxes.settle();
      await network.close();
      dns.close();
      sandboxes.closeClients();
      db.close();
    },
  };
}

/** The daemon's directories as configured and as resolved (a runtime may print either). */
async function hostDirsOf(config: DaemonConfig): Promise<string[]> {
  const dirs = [config.dataDir, config.imagesDir];
  const real = await Promise.all(dirs.map((d) => realpath(d).catch(() => d)));
  return [...new Set([...dirs, ...real])];
}
