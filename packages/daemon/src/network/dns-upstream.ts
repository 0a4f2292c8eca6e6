import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import net from "node:net";

export interface UpstreamAddress {
  host: string;
  port: number;
}

/** `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address; port 53 unless given. */
export function parseUpstream(value: string): UpstreamAddress {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  const v4 = /^([^:]+):(\d+)$/.exec(value);
  const [host, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : v4
      ? [v4[1]!, v4[2]]
      : [value, undefined];
  const number = port === undefined ? 53 : Number(port);
  if (net.isIP(host) === 0 || !Number.isInteger(number) || number < 1 || number > 65535)
    throw new Error(
      `a DNS upstream is IP or IP:PORT (port 1 to 65535), like 192.0.2.53:53; got "${value}"`,
    );
  return { host, port: number };
}

/** The first usable `nameserver` of a resolv.conf's text (an IP address; zone ids skipped). */
export function resolvConfNameserver(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const [keyword, address] = line.trim().split(/\s+/);
    // A link-local address with a zone (fe80::1%eth0) names an interface of the host's.
    if (keyword !== "nameserver" || address === undefined || address.includes("%")) continue;
    if (net.isIP(address) !== 0) return address;
  }
  return undefined;
}

/** The host's resolver: the first nameserver of /etc/resolv.conf, or undefined. */
export function hostDnsUpstream(path = "/etc/resolv.conf"): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  return resolvConfNameserver(text);
}

export interface UpstreamOptions {
  /** How long each UDP try waits for its answer. */
  udpTryMs: number;
  udpTries: number;
  /** The whole TCP exchange's deadline. */
  tcpMs: number;
}

/** Within the agent's 5 s for a whole query: two UDP tries and a TCP exchange at most. */
export const DEFAULT_UPSTREAM_OPTIONS: UpstreamOptions = {
  udpTryMs: 1200,
  udpTries: 2,
  tcpMs: 2000,
};

/**
 * Sends one DNS query to the upstream resolver, by UDP and again by TCP when the answer came
 * truncated. `accept` tells an answer to this query (id and question) from a stray datagram,
 * which is ignored. Rejects on a timeout or a transport failure.
 */
export class DnsUpstream {
  readonly address: UpstreamAddress;
  private readonly options: UpstreamOptions;

  constructor(upstream: string, options: Partial<UpstreamOptions> = {}) {
    this.address = parseUpstream(upstream);
    this.options = { ...DEFAULT_UPSTREAM_OPTIONS, ...options };
  }

  async ask(
    query: Buffer,
    accept: (answer: Buffer) => boolean,
    truncated: (answer: Buffer) => boolean,
  ): Promise<Buffer> {
    let answer: Buffer | undefined;
    let lastError: unknown;
    for (let i = 0; i < this.options.udpTries && !answer; i++) {
      answer = await this.udp(query, accept).catch((err: unknown) => {
        lastError = err;
        return undefined;
      });
    }
    if (!answer) throw lastError;
    return truncated(answer) ? this.tcp(query, accept) : answer;
  }

  /** One try over UDP, from a fresh socket (a fresh source port) connected to the upstream. */
  private udp(query: Buffer, accept: (answer: Buffer) => boolean): Promise<Buffer> {
    const { host, port } = this.address;
    const socket = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer from ${host}:${port} in ${this.options.udpTryMs} ms`)),
        this.options.udpTryMs,
      );
      socket.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on("message", (answer) => {
        if (!accept(answer)) return;
        clearTimeout(timer);
        resolve(answer);
      });
      socket.connect(port, host, () => socket.send(query));
    }).finally(() => socket.close());
  }

  /** One exchange over TCP: a two-byte length before each message. */
  private tcp(query: Buffer, accept: (answer: Buffer) => boolean): Promise<Buffer> {
    const { host, port } = this.address;
    const socket = net.connect({ host, port });
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no TCP answer from ${host}:${port} in ${this.options.tcpMs} ms`)),
        this.options.tcpMs,
      );
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      socket.on("error", fail);
      socket.once("close", () => fail(new Error(`${host}:${port} closed the TCP connection`)));
      let received = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
          const answer = received.subarray(2, 2 + received.readUInt16BE(0));
          received = received.subarray(2 + answer.length);
          if (!accept(answer)) continue;
          clearTimeout(timer);
          return resolve(answer);
        }
      });
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.write(Buffer.concat([length, query]));
    }).finally(() => socket.destroy());
  }
}
