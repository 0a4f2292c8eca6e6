import type { Socket } from "node:net";
import { DNS_FRAME_FLAGS, DnsFrameReader, encodeDnsFrame } from "@paddock/protocol";
import type { AgentClient } from "../agent/client.js";
import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import { answerQuery, type AnswerContext, type DnsNetwork } from "./dns-answer.js";
import { LearntAddresses } from "./dns-learnt.js";
import { DnsUpstream, type UpstreamOptions } from "./dns-upstream.js";

export interface DnsRelayOptions {
  /** The resolver allowed names are asked of: "IP" or "IP:PORT" (port 53 unless given). */
  upstream: string;
  network: DnsNetwork;
  log: Logger;
  /** Tests shorten these. */
  upstreamOptions?: Partial<UpstreamOptions>;
  reconnect?: { firstMs: number; maxMs: number };
}

/** Queries of one sandbox answered at once; past this the agent's extra frames are dropped. */
const MAX_IN_FLIGHT = 256;
/** A connection that lived this long resets the reconnect backoff. */
const STABLE_MS = 5000;

/** What the relay uses of a sandbox's AgentClient. */
export type DnsAgent = Pick<AgentClient, "dnsStream">;

/** One sandbox's DNS connection to its agent, kept open while the sandbox is attached. */
interface Link {
  ctx: AnswerContext;
  client: DnsAgent;
  socket: Socket | undefined;
  timer: NodeJS.Timeout | undefined;
  backoffMs: number;
  detached: boolean;
  inFlight: number;
}

/**
 * Answers the DNS of sandboxes with a network. The agent in each such sandbox runs the
 * sandbox's resolver on 127.0.0.1:53 and carries the queries here over a connection the daemon
 * opens (DNS_UPGRADE; the agent cannot dial out), framed with tags (dns-frames.ts); every
 * answer is made here (answerQuery): names judged by the sandbox's policy, allowed ones asked
 * of the upstream, their addresses opened in the firewall before the answer goes back. The
 * agent is untrusted: its frames are bounded (MAX_IN_FLIGHT) and each is parsed as any input.
 */
export class DnsRelay {
  private readonly upstream: DnsUpstream;
  private readonly network: DnsNetwork;
  private readonly log: Logger;
  private readonly reconnect: { firstMs: number; maxMs: number };
  private readonly links = new Map<string, Link>();

  constructor(opts: DnsRelayOptions) {
    this.upstream = new DnsUpstream(opts.upstream, opts.upstreamOptions);
    this.network = opts.network;
    this.log = opts.log;
    this.reconnect = opts.reconnect ?? { firstMs: 100, maxMs: 5000 };
  }

  /** Opens sandbox `id`'s DNS connection, and opens it again whenever it drops, until detach. */
  attach(id: string, client: DnsAgent): void {
    this.detach(id);
    const link: Link = {
      client,
      socket: undefined,
      timer: undefined,
      backoffMs: this.reconnect.firstMs,
      detached: false,
      inFlight: 0,
      ctx: {
        id,
        network: this.network,
        upstream: this.upstream,
        learnt: new LearntAddresses(),
        onFailure: (name, err) =>
          this.log.warn({ sandbox: id, name, err: errorMessage(err) }, "DNS query failed"),
      },
    };
    this.links.set(id, link);
    this.connect(link);
  }

  detach(id: string): void {
    const link = this.links.get(id);
    if (!link) return;
    this.links.delete(id);
    link.detached = true;
    clearTimeout(link.timer);
    link.socket?.destroy();
  }

  close(): void {
    for (const id of [...this.links.keys()]) this.detach(id);
  }

  private connect(link: Link): void {
    link.client.dnsStream().then(
      ({ socket, head }) => {
        if (link.detached) return socket.destroy();
        link.socket = socket;
        const since = Date.now();
        socket.once("close", () => {
          link.socket = undefined;
          if (Date.now() - since >= STABLE_MS) link.backoffMs = this.reconnect.firstMs;
          this.retry(link);
        });
        this.serve(link, socket, head);
      },
      (err: unknown) => {
        if (link.backoffMs === this.reconnect.firstMs)
          this.log.warn(
            { sandbox: link.ctx.id, err: errorMessage(err) },
            "cannot open the sandbox's DNS connection; retrying",
          );
        this.retry(link);
      },
    );
  }

  private retry(link: Link): void {
    if (link.detached) return;
    link.timer = setTimeout(() => this.connect(link), link.backoffMs);
    link.backoffMs = Math.min(link.backoffMs * 2, this.reconnect.maxMs);
  }

  private serve(link: Link, socket: Socket, head: Buffer): void {
    const reader = new DnsFrameReader();
    const take = (chunk: Buffer) => {
      for (const { tag, flags, message } of reader.push(chunk)) {
        if (link.inFlight >= MAX_IN_FLIGHT) continue; // the agent gives up on it; its client asks again
        link.inFlight++;
        const query = Buffer.from(message.buffer, message.byteOffset, message.length);
        void answerQuery(link.ctx, query, (flags & DNS_FRAME_FLAGS.udp) !== 0)
          .then((answer) => {
            if (answer && !socket.destroyed)
              socket.write(encodeDnsFrame({ tag, flags: 0, message: answer }));
          })
          .finally(() => link.inFlight--);
      }
    };
    socket.on("error", () => {});
    socket.on("data", take);
    if (head.length > 0) take(head);
  }
}
