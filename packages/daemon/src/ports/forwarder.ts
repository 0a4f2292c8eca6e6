import http from "node:http";
import net from "node:net";
import type { Logger } from "../logger.js";
import { checkHttpToken } from "./http-token.js";

export interface ForwarderOptions {
  sandboxId: string;
  port: number;
  bindAddress: string;
  hostPort: number;
  /** The sandbox agent's socket. */
  /** The sandbox's agent socket path, asked at each connection (it throws once the sandbox is gone). */
  agentSocket: () => string;
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
    const { sandboxId, port, agentSocket, token, log } = this.options;
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
    let socketPath: string;
    try {
      socketPath = agentSocket();
    } catch {
      client.destroy();
      return;
    }
    const request = http.request({
      socketPath,
      path: `/tunnel?port=${port}`,
      headers: { connection: "upgrade", upgrade: "paddock-tcp" },
      agent: false,
    });
    request.on("upgrade", (_res, upstream, upstreamHead) => {
      // The client left (or the port was closed) while the tunnel was being opened.
      if (client.destroyed) return upstream.destroy();
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
    });
    request.on("response", (res) => {
      // The agent refused: nothing listens on that port in the sandbox.
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => {
        log.warn(
          { sandboxId, port, status: res.statusCode, body: body.slice(0, 300) },
          "tunnel refused: nothing listening in the sandbox",
        );
        client.destroy();
      });
    });
    request.on("error", (err) => {
      log.warn(
        { sandboxId, port, err: err.message },
        "tunnel failed: the sandbox's agent is not answering",
      );
      client.destroy();
    });
    request.end();
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
