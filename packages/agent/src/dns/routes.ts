import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { AGENT_ENV, DNS_UPGRADE } from "@paddock/protocol";
import { atomicWriteSmall } from "../files/atomic-write.js";
import { AgentError, type Router } from "../router.js";
import { DnsStub } from "./dns-stub.js";

const RESOLV_CONF = "/etc/resolv.conf";

/**
 * Points the sandbox's resolver at the agent's stub. Written atomically; a symlink there (to
 * systemd-resolved's file, say) is replaced by a file, never written through.
 */
export function writeResolvConf(path = RESOLV_CONF): void {
  const text =
    "# Written by the paddock agent: the daemon answers this sandbox's DNS, by its network policy.\n" +
    "nameserver 127.0.0.1\n";
  atomicWriteSmall(path, Buffer.from(text), 0o644);
}

/** The DNS_UPGRADE handler of `stub`: `GET /dns`, then frames both ways (see dns-frames.ts). */
export function dnsUpgrade(stub: DnsStub) {
  return (req: IncomingMessage, connection: Duplex, head: Buffer): void => {
    if (new URL(req.url ?? "/", "http://agent").pathname !== "/dns")
      throw new AgentError("invalid_request", "the DNS connection is GET /dns");
    connection.write(
      `HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${DNS_UPGRADE}\r\n\r\n`,
    );
    stub.attach(connection, head);
  };
}

/**
 * In a sandbox with a network (AGENT_ENV.network): resolv.conf, the stub on 127.0.0.1:53, and
 * the upgrade the daemon opens to carry its queries. Failures are reported, not fatal: the
 * agent's other work goes on without DNS.
 */
export function registerDnsRoutes(router: Router): void {
  if (process.env[AGENT_ENV.network] !== "1") return;
  const warn = (what: string, err: unknown) =>
    process.stderr.write(`paddock agent: ${what}: ${(err as Error).message}\n`);
  try {
    writeResolvConf();
  } catch (err) {
    warn(`cannot write ${RESOLV_CONF}`, err);
  }
  const stub = new DnsStub();
  stub.listen().catch((err: unknown) => warn("cannot listen on 127.0.0.1:53", err));
  router.onUpgrade(DNS_UPGRADE, dnsUpgrade(stub));
  // The daemon's connection never ends on its own, and an upgraded connection holds off the
  // HTTP server's close: let go of it when the agent is told to stop.
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => stub.close());
}
