import { readlinkSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentError, sendJson, type Handler } from "./router.js";

/** How long paddock-init may take to close its copy of the socket after SIGUSR1. */
const RELEASE_WAIT_MS = 2000;

/**
 * The agent's listening socket and every connection to it, so that a pause can let go of them
 * all: gVisor's checkpoint refuses a sandbox with a bound host socket and fails on one with a
 * host connection (PLATFORM.md). `release` is the daemon's last call before a checkpoint;
 * SIGUSR2 (sent by the daemon after the restore, passed on by paddock-init) listens again.
 */
export class Listener {
  private readonly connections = new Set<Socket>();
  /** Whether paddock-init (the parent) holds a copy of the listening socket. */
  private parentCopy = false;

  constructor(
    private readonly server: Server,
    private readonly socketPath: string,
  ) {
    // Upgraded connections (tunnels, process streams, DNS) are these same sockets.
    server.on("connection", (socket) => {
      this.connections.add(socket);
      socket.once("close", () => this.connections.delete(socket));
    });
  }

  /** Listens on paddock-init's socket (`fd`), or binds the path itself (none: after a restore, or run alone). */
  listen(fd: number | undefined): void {
    if (fd !== undefined) {
      this.server.listen({ fd });
      this.parentCopy = true;
      return;
    }
    // A socket left by an earlier agent (or by this one before a checkpoint) would make listen fail.
    rmSync(this.socketPath, { force: true });
    this.server.listen(this.socketPath);
  }

  /**
   * `POST /lifecycle/release`: stops listening, has paddock-init close its copy, answers, and
   * then cuts every connection (this one last). Processes go on; nothing reaches the agent until
   * it is told to listen again.
   */
  readonly release: Handler = async (_req, res) => {
    if (!this.server.listening) throw new AgentError("conflict", "the agent is not listening");
    this.server.close();
    await this.releaseParentCopy();
    res.setHeader("connection", "close");
    sendJson(res, 200, { released: true });
    res.once("finish", () => {
      for (const socket of this.connections) socket.destroy();
    });
  };

  /**
   * Listens again on a fresh socket at the path (after a restore). The daemon removes the old
   * socket first, so an agent still listening (a pause cut short before its release) binds anew
   * too, and paddock-init drops its copy.
   */
  relisten(): void {
    if (this.server.listening) {
      this.server.close();
      if (this.parentCopy) process.kill(process.ppid, "SIGUSR1");
      this.parentCopy = false;
    }
    this.listen(undefined);
  }

  /** Asks paddock-init (the parent) to close its descriptor 3, and waits until it has. */
  private async releaseParentCopy(): Promise<void> {
    if (!this.parentCopy) return;
    const parent = process.ppid;
    process.kill(parent, "SIGUSR1");
    const deadline = Date.now() + RELEASE_WAIT_MS;
    while (holdsSocket(parent)) {
      if (Date.now() > deadline)
        throw new AgentError("internal", "paddock-init did not let go of the agent's socket");
      await sleep(5);
    }
    this.parentCopy = false;
  }
}

function holdsSocket(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/fd/3`).startsWith("socket:");
  } catch {
    return false;
  }
}
