import dgram from "node:dgram";
import net from "node:net";
import type { Duplex } from "node:stream";
import { DNS_FRAME_FLAGS, DnsFrameReader, encodeDnsFrame } from "@paddock/protocol";
import { DNS_HEADER_BYTES, servfail } from "./servfail.js";

export interface DnsStubOptions {
  host: string;
  /** Ports of the UDP and TCP listeners (53 in a sandbox; 0 in tests). */
  udpPort: number;
  tcpPort: number;
  /** A query sent to the daemon and not answered within this is forgotten (the client retries). */
  queryTimeoutMs: number;
  /** A query that finds no daemon connection waits this long for one, then gets SERVFAIL. */
  connectWaitMs: number;
  /** Queries in flight at once; past this, SERVFAIL at once. */
  maxInFlight: number;
  maxTcpConnections: number;
  /** A TCP client silent this long is closed. */
  tcpIdleMs: number;
}

export const DEFAULT_DNS_STUB_OPTIONS: DnsStubOptions = {
  host: "127.0.0.1",
  udpPort: 53,
  tcpPort: 53,
  queryTimeoutMs: 5000,
  connectWaitMs: 1000,
  maxInFlight: 256,
  maxTcpConnections: 64,
  tcpIdleMs: 10_000,
};

interface Pending {
  tag: number;
  frame: Uint8Array;
  /** The answer; undefined when the query is given up on (no answer is sent). */
  reply: (answer: Uint8Array | undefined) => void;
  timer: NodeJS.Timeout;
  sent: boolean;
}

/**
 * The sandbox's resolver: takes DNS queries on UDP and TCP and carries each, tagged, to the
 * daemon over the DNS_UPGRADE connection the daemon opened (the agent cannot dial out), which
 * judges the name by the sandbox's policy and answers. Not a security boundary (the daemon's
 * firewall is); it only has to be small and bounded. One daemon connection at a time: a new
 * one replaces the old, and queries still waiting are sent again on it.
 */
export class DnsStub {
  private readonly options: DnsStubOptions;
  private readonly udp = dgram.createSocket("udp4");
  private readonly tcp: net.Server;
  private readonly tcpClients = new Set<net.Socket>();
  private readonly pending = new Map<number, Pending>();
  private daemon: Duplex | undefined;
  private nextTag = 1;

  constructor(options: Partial<DnsStubOptions> = {}) {
    this.options = { ...DEFAULT_DNS_STUB_OPTIONS, ...options };
    this.udp.on("message", (message, peer) =>
      this.query(message, DNS_FRAME_FLAGS.udp, (answer) => {
        if (answer) this.udp.send(answer, peer.port, peer.address);
      }),
    );
    // A send to a client that went away fails asynchronously; nothing to do about it.
    this.udp.on("error", () => {});
    // Half-open: a client may end its side after its queries and still wait for the answers.
    this.tcp = net.createServer({ allowHalfOpen: true }, (socket) => this.serveTcp(socket));
  }

  /** Binds both listeners; resolves with their ports. */
  async listen(): Promise<{ udpPort: number; tcpPort: number }> {
    const { host } = this.options;
    await new Promise<void>((resolve, reject) => {
      this.udp.once("error", reject);
      this.udp.bind(this.options.udpPort, host, () => {
        this.udp.off("error", reject);
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(this.options.tcpPort, host, () => {
        this.tcp.off("error", reject);
        resolve();
      });
    });
    return {
      udpPort: this.udp.address().port,
      tcpPort: (this.tcp.address() as net.AddressInfo).port,
    };
  }

  /** Takes the daemon's connection (after the 101); `head`: bytes that came with the switch. */
  attach(connection: Duplex, head: Buffer): void {
    this.daemon?.destroy();
    this.daemon = connection;
    const reader = new DnsFrameReader();
    const take = (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) this.answer(frame.tag, frame.message);
    };
    connection.on("data", take);
    connection.on("error", () => {});
    connection.once("close", () => {
      if (this.daemon === connection) this.daemon = undefined;
    });
    if (head.length > 0) take(head);
    for (const pending of this.pending.values()) this.send(pending, connection);
  }

  close(): void {
    this.daemon?.destroy();
    for (const pending of this.pending.values()) clearTimeout(pending.timer);
    this.pending.clear(); // their clients go with the listeners
    for (const socket of this.tcpClients) socket.destroy();
    this.tcp.close();
    this.udp.close();
  }

  private query(
    message: Uint8Array,
    flags: number,
    reply: (answer: Uint8Array | undefined) => void,
  ): void {
    // Not a query (an answer, or shorter than a header): nothing to say to it.
    if (message.length < DNS_HEADER_BYTES || (message[2]! & 0x80) !== 0) return reply(undefined);
    if (this.pending.size >= this.options.maxInFlight) return reply(servfail(message));
    const tag = this.nextTag;
    this.nextTag = (this.nextTag % 0xffffffff) + 1;
    const pending: Pending = {
      tag,
      frame: encodeDnsFrame({ tag, flags, message }),
      reply,
      sent: false,
      timer: setTimeout(() => {
        this.pending.delete(tag);
        reply(servfail(message));
      }, this.options.connectWaitMs),
    };
    this.pending.set(tag, pending);
    if (this.daemon) this.send(pending, this.daemon);
  }

  private send(pending: Pending, daemon: Duplex): void {
    daemon.write(pending.frame);
    if (pending.sent) return; // sent before, on a connection that went: its deadline stands
    pending.sent = true;
    clearTimeout(pending.timer);
    pending.timer = setTimeout(() => {
      this.pending.delete(pending.tag);
      pending.reply(undefined);
    }, this.options.queryTimeoutMs);
  }

  private answer(tag: number, message: Uint8Array): void {
    const pending = this.pending.get(tag);
    if (!pending) return; // too late, or never asked
    this.pending.delete(tag);
    clearTimeout(pending.timer);
    pending.reply(message);
  }

  /** DNS over TCP: messages with a two-byte length in front, answered in any order. */
  private serveTcp(socket: net.Socket): void {
    if (this.tcpClients.size >= this.options.maxTcpConnections) {
      socket.destroy();
      return;
    }
    this.tcpClients.add(socket);
    socket.once("close", () => this.tcpClients.delete(socket));
    socket.on("error", () => {});
    socket.setTimeout(this.options.tcpIdleMs, () => socket.destroy());
    let buffered: Buffer = Buffer.alloc(0);
    let outstanding = 0;
    let ended = false;
    const finish = () => {
      if (ended && outstanding === 0) socket.end();
    };
    socket.once("end", () => {
      ended = true;
      finish();
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length > 0 ? Buffer.concat([buffered, chunk]) : chunk;
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const end = 2 + buffered.readUInt16BE(0);
        const message = buffered.subarray(2, end);
        buffered = buffered.subarray(end);
        outstanding++;
        this.query(message, 0, (answer) => {
          outstanding--;
          if (answer && socket.writable) {
            const length = Buffer.alloc(2);
            length.writeUInt16BE(answer.length);
            socket.write(Buffer.concat([length, answer]));
          }
          finish();
        });
      }
    });
  }
}
