import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import type { ExposedPort } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import type { SandboxService } from "../sandboxes/sandbox-service.js";
import type { PortRecord, PortStore } from "../state/port-store.js";
import { PortForwarder } from "./forwarder.js";

const isLoopback = (address: string) =>
  address === "localhost" || address.startsWith("127.") || address === "::1";

/**
 * Exposed ports: one host listener per (sandbox, port), recorded in state so they come back
 * after a daemon restart, closed when the sandbox ends.
 */
export class PortService {
  private readonly forwarders = new Map<string, PortForwarder>();

  constructor(
    private readonly deps: {
      store: PortStore;
      sandboxes: SandboxService;
      bindAddress: string;
      /** Whether the daemon has API keys: then other tenants share the host, loopback or not. */
      keysExist: () => boolean;
      log: Logger;
    },
  ) {
    if (!isIP(deps.bindAddress) && deps.bindAddress !== "localhost") {
      throw new Error(`port bind address must be an IP address, got "${deps.bindAddress}"`);
    }
  }

  private key = (sandboxId: string, port: number) => `${sandboxId}:${port}`;

  private describe(record: PortRecord): ExposedPort {
    const host = record.bindAddress.includes(":") ? `[${record.bindAddress}]` : record.bindAddress;
    return {
      port: record.port,
      hostPort: record.hostPort,
      bindAddress: record.bindAddress,
      url: `http://${host}:${record.hostPort}`,
      token: record.token,
      createdAt: new Date(record.createdAt).toISOString(),
    };
  }

  private async open(
    record: Omit<PortRecord, "hostPort"> & { hostPort: number },
  ): Promise<PortForwarder> {
    try {
      return await PortForwarder.listen({
        sandboxId: record.sandboxId,
        port: record.port,
        bindAddress: record.bindAddress,
        hostPort: record.hostPort,
        agent: () => this.deps.sandboxes.ready(record.sandboxId),
        token: record.token,
        log: this.deps.log,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE")
        throw new PaddockError(
          "conflict",
          `host port ${record.hostPort} is already in use; pick another or leave hostPort out`,
        );
      if (code === "EACCES")
        throw new PaddockError(
          "permission_denied",
          `cannot listen on host port ${record.hostPort}`,
        );
      throw err;
    }
  }

  async expose(
    sandboxId: string,
    port: number,
    options: { hostPort?: number; auth?: boolean },
    /** The caller's key was revoked while the port was being opened: close it again. */
    keyRevoked?: AbortSignal,
  ): Promise<ExposedPort> {
    this.deps.sandboxes.agent(sandboxId); // 404 or 409 unless the sandbox is running
    const existing = this.deps.store.forSandbox(sandboxId).find((r) => r.port === port);
    if (existing) {
      if (options.hostPort && options.hostPort !== existing.hostPort) {
        throw new PaddockError(
          "conflict",
          `port ${port} is already exposed on host port ${existing.hostPort}; unexpose it first`,
        );
      }
      return this.describe(existing);
    }
    const bindAddress = this.deps.bindAddress;
    const auth = options.auth ?? (this.deps.keysExist() || !isLoopback(bindAddress));
    const token = auth ? randomBytes(24).toString("base64url") : null;
    const forwarder = await this.open({
      sandboxId,
      port,
      bindAddress,
      hostPort: options.hostPort ?? 0,
      token,
      createdAt: Date.now(),
    });
    if (keyRevoked?.aborted) {
      await forwarder.close(true);
      throw new PaddockError("unauthorized", "the key was revoked");
    }
    const record: PortRecord = {
      sandboxId,
      port,
      hostPort: forwarder.hostPort,
      bindAddress,
      token,
      createdAt: Date.now(),
    };
    this.forwarders.set(this.key(sandboxId, port), forwarder);
    this.deps.store.upsert(record);
    this.deps.log.info({ sandboxId, port, hostPort: record.hostPort }, "port exposed");
    return this.describe(record);
  }

  list(sandboxId: string): ExposedPort[] {
    this.deps.sandboxes.get(sandboxId);
    return this.deps.store.forSandbox(sandboxId).map((r) => this.describe(r));
  }

  /** Stops accepting new connections on the port; ones already open finish on their own. */
  async unexpose(sandboxId: string, port: number): Promise<void> {
    this.deps.sandboxes.get(sandboxId);
    const key = this.key(sandboxId, port);
    const forwarder = this.forwarders.get(key);
    if (!forwarder && !this.deps.store.forSandbox(sandboxId).some((r) => r.port === port)) {
      throw new PaddockError("not_found", `port ${port} of ${sandboxId} is not exposed`);
    }
    this.forwarders.delete(key);
    this.deps.store.delete(sandboxId, port);
    await forwarder?.close(false);
  }

  /** Closes every port of a sandbox that ended, cutting open connections. */
  async release(sandboxId: string): Promise<void> {
    for (const [key, forwarder] of this.forwarders) {
      if (!key.startsWith(`${sandboxId}:`)) continue;
      this.forwarders.delete(key);
      await forwarder.close(true);
    }
    this.deps.store.deleteSandbox(sandboxId);
  }

  /** Closes every port of the sandboxes a revoked key owns, cutting open connections. */
  async releaseOwnedBy(owner: string): Promise<void> {
    for (const sandbox of this.deps.sandboxes.list({ owner })) await this.release(sandbox.id);
  }

  /** After a restart: listen again on every recorded port of a running sandbox. */
  async restore(): Promise<void> {
    for (const record of this.deps.store.all()) {
      const sandbox = this.deps.sandboxes.find(record.sandboxId);
      // Recovery ran first: a sandbox is running, paused or ended by now.
      if (sandbox?.state !== "running" && sandbox?.state !== "paused") {
        this.deps.store.deleteSandbox(record.sandboxId);
        continue;
      }
      try {
        this.forwarders.set(this.key(record.sandboxId, record.port), await this.open(record));
      } catch (err) {
        this.deps.log.error(
          { sandboxId: record.sandboxId, port: record.port, err: errorMessage(err) },
          "could not listen again on an exposed port",
        );
        this.deps.store.delete(record.sandboxId, record.port);
      }
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.forwarders.values()].map((f) => f.close(true)));
    this.forwarders.clear();
  }
}
