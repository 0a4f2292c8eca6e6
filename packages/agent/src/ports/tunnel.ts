import net from "node:net";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { TUNNEL_UPGRADE, WaitForPortQuerySchema } from "@paddock/protocol";
import { readQuery } from "../http-body.js";
import { AgentError, sendJson, type Router } from "../router.js";

/** Connects to a port on the sandbox's loopback, IPv4 first, then IPv6. */
function connectLocal(port: number): Promise<net.Socket> {
  const attempt = (host: string) =>
    new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(socket);
      });
      socket.once("error", reject);
    });
  return attempt("127.0.0.1").catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ECONNREFUSED") throw err;
    return attempt("::1").catch(() => {
      throw err;
    });
  });
}

/**
 * `GET /tunnel?port=N` with `Upgrade: paddock-tcp` (TUNNEL_UPGRADE): after the 101, the connection is a plain
 * byte stream to port N on the sandbox's loopback. The sandbox needs no network for this.
 * Errors thrown before the 101 are answered by the router as plain HTTP refusals.
 */
export async function handleTunnel(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://agent");
  const port = Number(url.searchParams.get("port"));
  if (url.pathname !== "/tunnel" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AgentError("invalid_request", "tunnels are GET /tunnel?port=1..65535");
  }
  let upstream: net.Socket;
  try {
    upstream = await connectLocal(port);
  } catch (err) {
    throw new AgentError(
      "agent_unavailable",
      `nothing accepts connections on port ${port} in the sandbox (${(err as Error).message})`,
    );
  }
  client.write(
    `HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${TUNNEL_UPGRADE}\r\n\r\n`,
  );
  if (head.length > 0) upstream.write(head);
  upstream.setNoDelay(true);
  // pipe() keeps backpressure in both directions; an end or error on one side ends the other.
  client.pipe(upstream).on("error", () => client.destroy());
  upstream.pipe(client).on("error", () => upstream.destroy());
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
  // A clean close is passed on by pipe() as an end, which still flushes what is buffered;
  // destroying here would cut off the last bytes of a response. Only an abort is passed on
  // as one.
  client.on("close", (hadError: boolean) => hadError && upstream.destroy());
  upstream.on("close", (hadError: boolean) => hadError && client.destroy());
}

/** `GET /ports/wait?port=N&timeoutMs=T`: answers once something accepts on port N. */
export function registerPortRoutes(router: Router): void {
  router.onUpgrade(TUNNEL_UPGRADE, handleTunnel);
  router.on("GET", "/ports/wait", async (_req, res, url) => {
    const { port, timeoutMs } = readQuery(url, WaitForPortQuerySchema);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const socket = await connectLocal(port).catch(() => undefined);
      if (socket) {
        socket.destroy();
        return sendJson(res, 200, { port, ready: true });
      }
      if (Date.now() >= deadline)
        throw new AgentError(
          "timeout",
          `nothing accepted connections on port ${port} within ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  });
}
