import dgram from "node:dgram";
import { once } from "node:events";
import net from "node:net";
import dnsPacket, { type Answer, type Packet } from "dns-packet";

/** Any name under this suffix (`a.wild.test`, `x.y.wild.test`) resolves as `*` in the names given. */
export const WILD_SUFFIX = ".wild.test";
/** The AAAA answer given for every known name: the daemon must drop it (no IPv6 in sandboxes). */
export const TEST_AAAA = "2001:db8::10";
/** Short, so that a test waiting for a record to expire does not wait long. */
const TTL_S = 5;

const NXDOMAIN = 3;
const FORMERR = 1;

export interface FakeDns {
  /** `127.0.0.1:PORT`, the form PADDOCK_DNS_UPSTREAM takes. */
  upstream: string;
  port: number;
  /** Every question asked so far, as `NAME TYPE` (`allowed.test A`), in order. */
  queries: string[];
  stop(): Promise<void>;
}

/** Names to addresses; `*` is what every name under WILD_SUFFIX resolves to. */
export type TestNames = Readonly<Record<string, string>>;

/** The address `name` resolves to in `names`, or undefined (NXDOMAIN). */
export function testAddress(names: TestNames, name: string): string | undefined {
  const lower = name.toLowerCase().replace(/\.$/, "");
  const key = lower.endsWith(WILD_SUFFIX) ? "*" : lower;
  return Object.hasOwn(names, key) ? names[key] : undefined;
}

/** The answer to one query: A (and AAAA) records for test names, NXDOMAIN for the rest. */
function answer(names: TestNames, query: Packet, queries: string[]): Buffer {
  const questions = query.questions ?? [];
  const reply = (flags: number, answers: Answer[] = []) =>
    dnsPacket.encode({
      type: "response",
      id: query.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | flags,
      questions,
      answers,
    });
  const question = questions[0];
  if (questions.length !== 1 || !question) return reply(FORMERR);
  queries.push(`${question.name} ${question.type}`);
  const address = testAddress(names, question.name);
  if (address === undefined) return reply(NXDOMAIN);
  if (question.type === "A")
    return reply(0, [{ type: "A", name: question.name, ttl: TTL_S, data: address }]);
  if (question.type === "AAAA")
    return reply(0, [{ type: "AAAA", name: question.name, ttl: TTL_S, data: TEST_AAAA }]);
  return reply(0);
}

/**
 * A DNS server for `names` (A records, and an AAAA for each) on 127.0.0.1 (UDP and TCP on one port) in the namespace of the
 * test process: the daemon under test forwards its sandboxes' queries here.
 */
export async function startFakeDns(names: TestNames): Promise<FakeDns> {
  const queries: string[] = [];
  // One port for both: UDP takes a free one, TCP must then get the same; another try if taken.
  for (let attempt = 0; ; attempt++) {
    const udp = udpServer(names, queries);
    udp.bind(0, "127.0.0.1");
    await once(udp, "listening");
    const port = udp.address().port;
    const tcp = tcpServer(names, queries);
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once("listening", () => resolve(true)).once("error", () => resolve(false));
      tcp.listen(port, "127.0.0.1");
    });
    const stop = async () => {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (tcp.listening) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    };
    if (ok) return { upstream: `127.0.0.1:${port}`, port, queries, stop };
    await stop();
    if (attempt >= 5) throw new Error("no free port for the fake DNS server on 127.0.0.1");
  }
}

function udpServer(names: TestNames, queries: string[]): dgram.Socket {
  const udp = dgram.createSocket("udp4");
  udp.on("message", (msg, from) => {
    let query: Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return; // not DNS: a resolver would drop it too
    }
    udp.send(answer(names, query, queries), from.port, from.address);
  });
  return udp;
}

function tcpServer(names: TestNames, queries: string[]): net.Server {
  return net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // TCP DNS: each message is preceded by its length in two bytes.
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + msg.length);
        let reply: Buffer;
        try {
          reply = answer(names, dnsPacket.decode(msg), queries);
        } catch {
          socket.destroy();
          return;
        }
        const size = Buffer.alloc(2);
        size.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([size, reply]));
      }
    });
  });
}
