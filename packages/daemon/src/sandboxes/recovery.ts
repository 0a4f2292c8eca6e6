import { readdir } from "node:fs/promises";
import { PAUSE_STATES, RUNTIMES, type RuntimeName } from "@paddock/protocol";
import { AgentClient } from "../agent/client.js";
import { errorMessage } from "../errors.js";
import type { Layout } from "../layout.js";
import type { Logger } from "../logger.js";
import type { NetworkService } from "../network/network-service.js";
import { runtimeTarget, type Runtimes } from "../runtimes/index.js";
import { hasNetwork, type SandboxRecord, type SandboxStore } from "../state/sandbox-store.js";
import type { DnsAttachment, SandboxService } from "./sandbox-service.js";
import {
  createRefusal,
  DEFAULT_CREATE_POLICY,
  ownerOf,
  type CreatePolicy,
} from "./create-policy.js";

export interface RecoveryDeps {
  store: SandboxStore;
  service: SandboxService;
  runtimes: Runtimes;
  layout: Layout;
  /** What the operator allows now; default: nothing beyond the defaults. */
  policy?: CreatePolicy;
  network?: NetworkService;
  dns?: DnsAttachment;
  log: Logger;
}

/**
 * Runs at daemon start. Makes the machine match the state database after a crash:
 * running sandboxes that still answer are kept; half-made ones are removed as if never made;
 * ones whose container vanished are marked failed and cleaned; strays on disk or in a
 * runtime's root that no row claims are removed. A running sandbox that create would refuse its
 * owner today (Docker under runc, made before an upgrade or while the operator allowed it) is
 * ended: it has root on the host. Last, sandbox networking is made to match: the rules of
 * running sandboxes with a network are written again and their DNS is answered again, and
 * what no running sandbox has is removed.
 */
export async function recover(deps: RecoveryDeps): Promise<void> {
  const { store, service, runtimes, layout, log } = deps;

  for (const record of store.inStates(["creating"])) {
    log.warn({ id: record.id }, "removing a sandbox whose create was interrupted");
    await service
      .teardown(record)
      .catch((err: unknown) =>
        log.error({ id: record.id, err: errorMessage(err) }, "cleanup failed"),
      );
    store.delete(record.id);
  }
  for (const record of store.inStates(["terminating"])) {
    await endQuietly(deps, record, "terminated", record.reason);
  }
  await recoverPauses(deps);
  const policy = deps.policy ?? DEFAULT_CREATE_POLICY;
  for (const record of store.inStates(["running"])) {
    if (!createRefusal(record, ownerOf(record.owner), policy)) continue;
    log.warn({ id: record.id, owner: record.owner }, "ending a sandbox this daemon does not allow");
    await endQuietly(
      deps,
      record,
      "terminated",
      "ended at daemon start: Docker under runc gives the sandbox root on the host, and this daemon does not allow it for the sandbox's owner",
    );
  }
  for (const record of store.inStates(["running"])) {
    const paths = layout.sandbox(record.id);
    const state = await runtimes[record.runtime]
      .state(runtimeTarget(layout, record))
      .catch(() => null);
    let healthy = false;
    if (state?.status === "running") {
      const probe = new AgentClient(paths.socket);
      healthy = await probe.health(3000).then(
        () => true,
        () => false,
      );
      probe.close();
    }
    // A snapshot the daemon died taking leaves the agent without its socket (runsc) or the
    // container frozen (runc): it is made to run again.
    if (!healthy && (state?.status === "running" || state?.status === "paused"))
      healthy = (await service.settlePause(record).catch(() => "lost")) === "running";
    if (!healthy) {
      log.warn(
        { id: record.id, container: state?.status ?? "missing" },
        "sandbox lost while the daemon was down",
      );
      await endQuietly(
        deps,
        record,
        "failed",
        "the sandbox's container vanished while the daemon was down",
      );
    }
  }

  const live = new Set(store.inStates(["running", "paused"]).map((r) => r.id));
  /** The runtime whose root knows each container, as that runtime's own state says. */
  const containers = new Map<string, RuntimeName>();
  for (const name of RUNTIMES) {
    const ids = await runtimes[name].list().catch(() => [] as string[]);
    for (const id of ids) containers.set(id, name);
    for (const id of ids.filter((i) => !live.has(i))) {
      log.warn({ id, runtime: name }, "removing a container no sandbox claims");
      await service.teardown({ id, runtime: name }).catch(() => {});
    }
  }
  const dirs = await readdir(layout.sandboxesDir).catch(() => [] as string[]);
  for (const id of dirs.filter((d) => !live.has(d))) {
    log.warn({ id }, "removing a sandbox directory no sandbox claims");
    // Its runtime is the stored record's, else the one whose root knew a container of that id;
    // with neither, no container is left anywhere and only the mounts and the directory are.
    const record = store.get(id);
    const runtime = record?.runtime ?? containers.get(id);
    const cleanup = runtime
      ? service.teardown({ id, runtime, docker: record?.docker })
      : service.removeDirectory(id);
    await cleanup.catch((err: unknown) =>
      log.error({ id, err: errorMessage(err) }, "cleanup failed"),
    );
  }
  await recoverNetwork(deps);
}

/**
 * A pause or resume the daemon died in is settled, never left half: a sandbox whose container
 * runs (and whose agent answers once told to listen) is running; one whose checkpoint was
 * saved whole, or whose container is frozen, is paused; anything else has failed.
 */
async function recoverPauses(deps: RecoveryDeps): Promise<void> {
  const { store, service, log } = deps;
  for (const record of store.inStates([...PAUSE_STATES])) {
    const outcome = await service.settlePause(record).catch((err: unknown) => {
      log.error({ id: record.id, err: errorMessage(err) }, "settling a pause failed");
      return "lost" as const;
    });
    if (outcome !== "lost") {
      if (outcome !== record.state)
        log.warn(
          { id: record.id, was: record.state, now: outcome },
          "pause settled after a restart",
        );
      continue;
    }
    log.warn({ id: record.id, was: record.state }, "paused sandbox lost while the daemon was down");
    await endQuietly(
      deps,
      record,
      "failed",
      "the paused sandbox's saved state or container was lost while the daemon was down",
    );
  }
}

/** Ends a sandbox at start; a failed cleanup is logged, and the next start tries again. */
async function endQuietly(
  deps: RecoveryDeps,
  record: SandboxRecord,
  state: "terminated" | "failed",
  reason: string | null,
): Promise<void> {
  await deps.service
    .end(record, state, reason)
    .catch((err: unknown) =>
      deps.log.error({ id: record.id, err: errorMessage(err) }, "cleanup failed"),
    );
}

/** Rules and DNS again for the running sandboxes with a network; leftovers removed. */
async function recoverNetwork(deps: RecoveryDeps): Promise<void> {
  const { store, service, network, dns, log } = deps;
  if (!network) return;
  // A frozen sandbox keeps its network (it thaws into it).
  const running = store
    .inStates(["running", "paused"])
    .filter(hasNetwork)
    .flatMap(({ id, network: { egress, allow, deny, address } }) =>
      address ? [{ id, policy: { egress, allow, deny }, address }] : [],
    );
  await network
    .reconcile(running, (id) => store.get(id) !== undefined)
    .catch((err: unknown) => log.error({ err: errorMessage(err) }, "network recovery failed"));
  for (const { id } of running)
    if (store.get(id)?.state === "running") dns?.attach(id, service.agent(id));
}
