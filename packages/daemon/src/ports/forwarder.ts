import net from "node:net";
import type { AgentClient } from "../agent/client.js";
import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import { checkHttpToken } from "./http-token.js";

export interface ForwarderOptions {
  sandboxId: string;
  port: number;
  bindAddress: string;
  hostPort: number;
  /**
   * The sandbox's agent client, asked at each connection (it throws once the sandbox is gone or
   * paused, and resumes one created with autoResume).
   */
  agent: () => Promise<AgentClient>;
  token: string | null;
  log: Logger;
}

/**
 * Listens on a host port and carries each connection, as a plain byte stream, to a port on the
 * sandbox's loopback through its agent (an HTTP upgrade on the agent's Unix socket). No
 * network, veth or address is given to the sandbox.
 */
export class PortForwarder {
  private readonly server: net.Server;
  /** Both ends of every open connection: the client's and the tunnel's to the agent. */
  private readonly connections = new Set<net.Socket>();

  private constructor(private readonly options: ForwarderOptions) {
    this.server = net.createServer((client) => void this.accept(client));
  }

  static async listen(options: ForwarderOptions): Promise<PortForwarder> {
    const forwarder = new PortForwarder(options);
    await new Promise<void>((resolve, reject) => {
      forwarder.server.once("error", reject);
      forwarder.server.listen({ host: options.bindAddress, port: options.hostPort }, () => {
        forwarder.server.off("error", reject);
        resolve();
      });
    });
    return forwarder;
  }

  get hostPort(): number {
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : this.options.hostPort;
  }

  private async accept(client: net.Socket): Promise<void> {
    const { sandboxId, port, agent, token, log } = this.options;
    this.connections.add(client);
    client.once("close", () => this.connections.delete(client));
    client.on("error", () => client.destroy());
    client.setNoDelay(true);
    client.pause();
    let head: Buffer = Buffer.alloc(0);
    if (token) {
      const read = await checkHttpToken(client, token);
      if (!read) return;
      head = read;
    }
    // The client leaving (or the port closing) while the tunnel is being opened gives it up.
    const gone = new AbortController();
    client.once("close", () => gone.abort());
    let upstream: net.Socket;
    let upstreamHead: Buffer;
    try {
      const tunnel = await (await agent()).tunnel(port, gone.signal);
      upstream = tunnel.socket;
      upstreamHead = tunnel.head;
    } catch (err) {
      // Nothing listening in the sandbox, an agent that is gone, slow or not speaking its
      // protocol: the client's connection is closed, the daemon's log says why.
      if (!gone.signal.aborted)
        log.warn({ sandboxId, port, err: errorMessage(err) }, "tunnel refused or failed");
      client.destroy();
      return;
    }
    if (client.destroyed) return void upstream.destroy();
    this.connections.add(upstream);
    upstream.once("close", () => this.connections.delete(upstream));
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.on("error", () => client.destroy());
    // Only an abort is passed on as one: a clean end goes through pipe(), which flushes first.
    upstream.on("close", (hadError: boolean) => hadError && client.destroy());
    client.on("close", (hadError: boolean) => hadError && upstream.destroy());
    client.resume();
  }

  /**
   * Stops accepting new connections at once. With `dropConnections`, also cuts the open ones,
   * both ends (the sandbox's side of a cut connection ends too), and waits until the listener
   * is fully closed.
   */
  async close(dropConnections: boolean): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (!dropConnections) return;
    for (const c of this.connections) c.destroy();
    await closed;
  }
}
