import dgram from "node:dgram";
import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from "dns-packet";
import {
  DNS_FRAME_FLAGS,
  DnsFrameReader,
  encodeDnsFrame,
  type NetworkPolicy,
} from "@paddock/protocol";
import { silentLogger } from "../src/logger.js";
import { DnsRelay } from "../src/network/dns-relay.js";
import { chainAddresses, type DnsNetwork } from "../src/network/dns-answer.js";
import { LearntAddresses } from "../src/network/dns-learnt.js";
import { parseUpstream, resolvConfNameserver } from "../src/network/dns-upstream.js";
import { sortPolicy, type SortedPolicy } from "../src/network/policy.js";

const A = (name: string, data: string, ttl = 30): Answer => ({ type: "A", name, ttl, data });

/** The fake upstream's zone: what each name answers (an A query gets these records). */
const ZONE: Record<string, Answer[]> = {
  "allowed.test": [A("allowed.test", "192.0.2.10", 30)],
  "alias.test": [
    { type: "CNAME", name: "alias.test", ttl: 60, data: "cdn.elsewhere.example" },
    { type: "CNAME", name: "cdn.elsewhere.example", ttl: 60, data: "edge.elsewhere.example" },
    A("edge.elsewhere.example", "198.51.100.7", 120),
    A("edge.elsewhere.example", "198.51.100.8", 20),
    A("unrelated.example", "203.0.113.99"),
  ],
  // 40 addresses: more than 512 bytes, so over UDP it comes truncated.
  "big.test": Array.from({ length: 40 }, (_, i) => A("big.test", `192.0.2.${i + 1}`)),
};

interface Upstream {
  address: string;
  /** Questions asked, `NAME TYPE TRANSPORT`. */
  asked: string[];
  stop(): void;
}

/** A DNS server on 127.0.0.1 (UDP and TCP on one port) answering from ZONE. */
async function startUpstream(): Promise<Upstream> {
  const asked: string[] = [];
  const answer = (msg: Buffer, transport: "udp" | "tcp"): Buffer => {
    const query = dnsPacket.decode(msg);
    const q = query.questions![0]!;
    asked.push(`${q.name} ${q.type} ${transport}`);
    const records = ZONE[q.name.toLowerCase()];
    const base: Packet = { id: query.id, type: "response", flags: dnsPacket.RECURSION_AVAILABLE };
    if (!records) return dnsPacket.encode({ ...base, flags: 3, questions: [q] });
    if (q.name === "big.test" && transport === "udp")
      return dnsPacket.encode({ ...base, flags: dnsPacket.TRUNCATED_RESPONSE, questions: [q] });
    const answers =
      q.type === "AAAA"
        ? [{ type: "AAAA", name: q.name, ttl: 30, data: "2001:db8::10" } as Answer]
        : records;
    const additionals: Answer[] = [
      { type: "AAAA", name: "ns.test", ttl: 30, data: "2001:db8::53" },
    ];
    return dnsPacket.encode({ ...base, questions: [q], answers, additionals });
  };
  for (;;) {
    const udp = dgram.createSocket("udp4");
    udp.on("message", (msg, from) => udp.send(answer(msg, "udp"), from.port, from.address));
    udp.bind(0, "127.0.0.1");
    await once(udp, "listening");
    const port = udp.address().port;
    const tcp = net.createServer((socket) => {
      let pending = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const reply = answer(pending.subarray(2, 2 + pending.readUInt16BE(0)), "tcp");
          pending = pending.subarray(2 + pending.readUInt16BE(0));
          const size = Buffer.alloc(2);
          size.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([size, reply]));
        }
      });
    });
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once("listening", () => resolve(true)).once("error", () => resolve(false));
      tcp.listen(port, "127.0.0.1");
    });
    const stop = () => {
      udp.close();
      tcp.close();
    };
    if (ok) return { address: `127.0.0.1:${port}`, asked, stop };
    stop();
  }
}

/** A NetworkService stand-in: a policy per sandbox, learn calls recorded (and made slow). */
class FakeNetwork implements DnsNetwork {
  readonly events: string[] = [];
  learnFails = false;
  private readonly policies = new Map<string, SortedPolicy>();
  constructor(policies: Record<string, NetworkPolicy>) {
    for (const [id, policy] of Object.entries(policies)) this.update(id, policy);
  }
  /** As NetworkService does: a new sorted policy object on every update. */
  update(id: string, policy: NetworkPolicy): void {
    this.policies.set(id, sortPolicy(policy));
  }
  policy(id: string) {
    return this.policies.get(id);
  }
  async learn(id: string, addresses: string[], ttl: number): Promise<void> {
    await new Promise((r) => setTimeout(r, 30));
    if (this.learnFails) throw new Error("nft said no");
    this.events.push(`learn ${id} ${addresses.join(",")} ${ttl}`);
  }
}

/** The agent's side of the DNS connection: the relay dials it through `dnsStream`. */
class FakeAgent {
  opened = 0;
  socket: net.Socket | undefined;
  private readonly reader = new DnsFrameReader();
  private readonly answers = new Map<number, (m: Buffer) => void>();
  private nextTag = 1;
  private connected: (() => void) | undefined;

  constructor(private readonly events: string[]) {}

  readonly client = {
    dnsStream: async () => {
      const server = net.createServer();
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const accepted = once(server, "connection") as Promise<[net.Socket]>;
      const daemonEnd = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
      const [agentEnd] = await accepted;
      server.close();
      this.opened++;
      this.socket = agentEnd;
      agentEnd.on("data", (chunk: Buffer) => {
        for (const frame of this.reader.push(chunk)) {
          this.events.push("answer");
          this.answers.get(frame.tag)?.(Buffer.from(frame.message));
        }
      });
      this.connected?.();
      return { socket: daemonEnd, head: Buffer.alloc(0) };
    },
  };

  async waitConnected(count = 1): Promise<void> {
    while (this.opened < count) await new Promise<void>((r) => (this.connected = r));
  }

  ask(message: Buffer, udp = true): Promise<DecodedPacket> {
    const tag = this.nextTag++;
    const answered = new Promise<Buffer>((r) => this.answers.set(tag, r));
    const flags = udp ? DNS_FRAME_FLAGS.udp : 0;
    this.socket!.write(encodeDnsFrame({ tag, flags, message }));
    return answered.then((m) => dnsPacket.decode(m));
  }
}

const query = (name: string, type: "A" | "AAAA" = "A", id = 4242) =>
  dnsPacket.encode({
    id,
    type: "query",
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: "IN" }],
  });

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function setup(options: { upstream?: string; learnFails?: boolean } = {}) {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.stop());
  const network = new FakeNetwork({
    sb_allow: { egress: "allowlist", allow: ["allowed.test", "alias.test", "big.test"], deny: [] },
    sb_all: { egress: "all", allow: [], deny: ["denied.test"] },
  });
  network.learnFails = options.learnFails ?? false;
  const relay = new DnsRelay({
    upstream: options.upstream ?? upstream.address,
    network,
    log: silentLogger,
    upstreamOptions: { udpTryMs: 200, udpTries: 2, tcpMs: 500 },
    reconnect: { firstMs: 20, maxMs: 100 },
  });
  cleanups.push(() => relay.close());
  const agent = new FakeAgent(network.events);
  relay.attach("sb_allow", agent.client);
  await agent.waitConnected();
  return { upstream, network, relay, agent };
}

describe("DnsRelay", () => {
  it("answers an allowed name from the upstream, after the firewall learnt its address", async () => {
    const { agent, network } = await setup();
    const answer = await agent.ask(query("allowed.test"));
    expect(answer.id).toBe(4242);
    expect(answer.rcode).toBe("NOERROR");
    expect(answer.answers).toMatchObject([{ type: "A", name: "allowed.test", data: "192.0.2.10" }]);
    expect(network.events).toEqual(["learn sb_allow 192.0.2.10 30", "answer"]);
  });

  it("answers NXDOMAIN for a name outside the allowlist, without asking the upstream", async () => {
    const { agent, upstream, network } = await setup();
    const answer = await agent.ask(query("other.test"));
    expect(answer.rcode).toBe("NXDOMAIN");
    expect(answer.id).toBe(4242);
    expect(answer.questions).toMatchObject([{ name: "other.test", type: "A" }]);
    expect(upstream.asked).toEqual([]);
    expect(network.events).toEqual(["answer"]);
  });

  it("judges the name as sent upstream: a label with a dot in it is split", async () => {
    const { agent, upstream } = await setup();
    // One label "allowed.test" under "evil": decoded as allowed.test.evil, which is refused.
    const raw = Buffer.concat([
      query("x").subarray(0, 12),
      Buffer.from([12]),
      Buffer.from("allowed.test"),
      Buffer.from([4]),
      Buffer.from("evil"),
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
    expect((await agent.ask(raw)).rcode).toBe("NXDOMAIN");
    expect(upstream.asked).toEqual([]);
  });

  it("strips AAAA records: an AAAA question gets an empty NOERROR, and additionals lose theirs", async () => {
    const { agent, network } = await setup();
    const aaaa = await agent.ask(query("allowed.test", "AAAA"));
    expect(aaaa.rcode).toBe("NOERROR");
    expect(aaaa.answers).toEqual([]);
    expect(aaaa.additionals).toEqual([]);
    const a = await agent.ask(query("allowed.test"));
    expect(a.additionals).toEqual([]);
    expect(network.events.filter((e) => e.startsWith("learn"))).toEqual([
      "learn sb_allow 192.0.2.10 30",
    ]);
  });

  it("learns the final addresses of a CNAME chain, with their longest TTL", async () => {
    const { agent, network } = await setup();
    const answer = await agent.ask(query("alias.test"));
    expect(answer.answers?.map((r) => r.type)).toEqual(["CNAME", "CNAME", "A", "A", "A"]);
    expect(network.events).toEqual(["learn sb_allow 198.51.100.7,198.51.100.8 120", "answer"]);
  });

  it("skips the firewall for addresses it still holds, until the policy changes", async () => {
    const { agent, network } = await setup();
    await agent.ask(query("allowed.test"));
    await agent.ask(query("allowed.test"));
    expect(network.events).toEqual(["learn sb_allow 192.0.2.10 30", "answer", "answer"]);
    network.update("sb_allow", { egress: "allowlist", allow: ["allowed.test"], deny: [] });
    await agent.ask(query("allowed.test"));
    expect(network.events.filter((e) => e.startsWith("learn"))).toHaveLength(2);
  });

  it("asks again by TCP when the upstream's UDP answer is truncated, and truncates for a UDP client", async () => {
    const { agent, upstream, network } = await setup();
    const overUdp = await agent.ask(query("big.test"), true);
    expect(overUdp.flag_tc).toBe(true);
    expect(overUdp.answers).toEqual([]);
    expect(overUdp.questions).toMatchObject([{ name: "big.test" }]);
    const overTcp = await agent.ask(query("big.test", "A", 7), false);
    expect(overTcp.flag_tc).toBe(false);
    expect(overTcp.id).toBe(7);
    expect(overTcp.answers).toHaveLength(40);
    expect(upstream.asked).toEqual([
      "big.test A udp",
      "big.test A tcp",
      "big.test A udp",
      "big.test A tcp",
    ]);
    // The second answer gave the same addresses, which the firewall still holds.
    expect(network.events.filter((e) => e.startsWith("learn"))).toHaveLength(1);
  });

  it("answers SERVFAIL when the upstream does not answer", async () => {
    const silent = dgram.createSocket("udp4");
    silent.bind(0, "127.0.0.1");
    await once(silent, "listening");
    cleanups.push(() => silent.close());
    const { agent } = await setup({ upstream: `127.0.0.1:${silent.address().port}` });
    const started = Date.now();
    const answer = await agent.ask(query("allowed.test"));
    expect(answer.rcode).toBe("SERVFAIL");
    expect(answer.id).toBe(4242);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("answers SERVFAIL when the firewall cannot learn the addresses", async () => {
    const { agent } = await setup({ learnFails: true });
    expect((await agent.ask(query("allowed.test"))).rcode).toBe("SERVFAIL");
  });

  it("answers FORMERR to a malformed query and NOTIMP to another opcode", async () => {
    const { agent } = await setup();
    const cut = query("allowed.test").subarray(0, 20);
    const formerr = await agent.ask(cut);
    expect(formerr.rcode).toBe("FORMERR");
    expect(formerr.id).toBe(4242);
    const notify = Buffer.from(query("allowed.test"));
    notify[2] = (notify[2]! & 0x87) | (4 << 3); // opcode 4, NOTIFY
    expect((await agent.ask(notify)).rcode).toBe("NOTIMP");
  });

  it("opens the connection again when it drops, and stops on detach", async () => {
    const { agent, relay } = await setup();
    agent.socket!.destroy();
    await agent.waitConnected(2);
    expect((await agent.ask(query("allowed.test"))).rcode).toBe("NOERROR");
    relay.detach("sb_allow");
    await new Promise((r) => setTimeout(r, 200));
    expect(agent.opened).toBe(2);
  });
});

describe("chainAddresses", () => {
  it("ignores a chain that loops and records of other names", () => {
    const loop: Answer[] = [
      { type: "CNAME", name: "a.test", ttl: 5, data: "b.test" },
      { type: "CNAME", name: "b.test", ttl: 5, data: "a.test" },
      A("c.test", "192.0.2.1"),
    ];
    expect(chainAddresses("a.test", loop)).toEqual({ addresses: [], ttl: 0 });
    expect(chainAddresses("C.TEST", loop)).toEqual({ addresses: ["192.0.2.1"], ttl: 30 });
  });
});

describe("LearntAddresses", () => {
  it("skips an address while the firewall keeps it past the new answer's TTL", () => {
    const learnt = new LearntAddresses();
    const policy = sortPolicy({ egress: "all", allow: [], deny: [] });
    expect(learnt.missing(policy, ["192.0.2.1"], 30, 0)).toEqual(["192.0.2.1"]);
    learnt.learnt(["192.0.2.1"], 30, 0); // kept 60 s: the firewall's shortest
    expect(learnt.missing(policy, ["192.0.2.1", "192.0.2.2"], 5, 50_000)).toEqual(["192.0.2.2"]);
    expect(learnt.missing(policy, ["192.0.2.1"], 5, 56_000)).toEqual(["192.0.2.1"]);
    expect(learnt.missing(policy, ["192.0.2.1"], 120, 1000)).toEqual(["192.0.2.1"]);
  });
});

describe("upstream addresses", () => {
  it("reads the first nameserver of a resolv.conf", () => {
    const text =
      "# comment\nsearch example.org\nnameserver  fe80::1%eth0\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n";
    expect(resolvConfNameserver(text)).toBe("192.0.2.53");
    expect(resolvConfNameserver("search x\n")).toBeUndefined();
  });

  it("parses IP and IP:PORT, port 53 by default, and refuses anything else", () => {
    expect(parseUpstream("192.0.2.53")).toEqual({ host: "192.0.2.53", port: 53 });
    expect(parseUpstream("127.0.0.1:5353")).toEqual({ host: "127.0.0.1", port: 5353 });
    expect(parseUpstream("[::1]:54")).toEqual({ host: "::1", port: 54 });
    expect(parseUpstream("::1")).toEqual({ host: "::1", port: 53 });
    for (const bad of ["dns.example:53", "192.0.2.53:0", "192.0.2.53:99999", ""])
      expect(() => parseUpstream(bad)).toThrow(/IP or IP:PORT/);
  });
});
