import dgram from "node:dgram";
import {
  mkdtempSync,
  readFileSync,
  readlinkSync,
  lstatSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DNS_FRAME_FLAGS, DnsFrameReader, encodeDnsFrame, type DnsFrame } from "@paddock/protocol";
import { DnsStub, type DnsStubOptions } from "../src/dns/dns-stub.js";
import { writeResolvConf } from "../src/dns/routes.js";
import { servfail } from "../src/dns/servfail.js";

/** A query for `name` (type A, class IN, RD set), built by hand as a resolver sends it. */
function query(id: number, name: string): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  const labels = name
    .split(".")
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The answer the fake daemon gives: the query with QR set and one made-up byte past it. */
const fakeAnswer = (q: Uint8Array) => {
  const a = Buffer.concat([Buffer.from(q), Buffer.from([0x2a])]);
  a[2] |= 0x80;
  return a;
};

/** The daemon's side of the DNS upgrade: frames in, frames out, over a loopback connection. */
class FakeDaemon {
  readonly frames: DnsFrame[] = [];
  private readonly reader = new DnsFrameReader();
  private waiters: (() => void)[] = [];
  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.frames.push(...this.reader.push(chunk));
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async frame(index: number): Promise<DnsFrame> {
    while (this.frames.length <= index) await new Promise<void>((r) => this.waiters.push(r));
    return this.frames[index]!;
  }
  answer(frame: DnsFrame, message: Uint8Array = fakeAnswer(frame.message)): void {
    this.socket.write(encodeDnsFrame({ tag: frame.tag, flags: 0, message }));
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function startStub(options: Partial<DnsStubOptions> = {}) {
  const stub = new DnsStub({ host: "127.0.0.1", udpPort: 0, tcpPort: 0, ...options });
  const ports = await stub.listen();
  cleanups.push(() => stub.close());
  return { stub, ...ports };
}

/** Connects a fake daemon to the stub as the upgrade would: the agent's end goes to attach(). */
async function connectDaemon(stub: DnsStub): Promise<FakeDaemon> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const daemonEnd = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  const agentEnd = await accepted;
  server.close();
  cleanups.push(() => daemonEnd.destroy());
  stub.attach(agentEnd, Buffer.alloc(0));
  return new FakeDaemon(daemonEnd);
}

/** Sends a UDP query; resolves with the answer, or undefined after `waitMs`. */
async function askUdp(port: number, message: Buffer, waitMs = 2000): Promise<Buffer | undefined> {
  const socket = dgram.createSocket("udp4");
  cleanups.push(() => socket.close());
  const answer = new Promise<Buffer | undefined>((resolve) => {
    socket.once("message", resolve);
    setTimeout(() => resolve(undefined), waitMs);
  });
  socket.send(message, port, "127.0.0.1");
  return answer;
}

const rcode = (answer: Uint8Array) => answer[3]! & 0x0f;

describe("the agent's DNS stub", () => {
  it("carries a UDP query to the daemon, tagged and flagged UDP, and its answer back", async () => {
    const { stub, udpPort } = await startStub();
    const daemon = await connectDaemon(stub);
    const q = query(0x1234, "allowed.test");
    const answered = askUdp(udpPort, q);
    const frame = await daemon.frame(0);
    expect(frame.flags).toBe(DNS_FRAME_FLAGS.udp);
    expect(Buffer.from(frame.message)).toEqual(q);
    daemon.answer(frame);
    expect(await answered).toEqual(fakeAnswer(q));
  });

  it("answers pipelined TCP queries in whatever order the daemon does", async () => {
    const { stub, tcpPort } = await startStub();
    const daemon = await connectDaemon(stub);
    const client = net.connect(tcpPort, "127.0.0.1");
    cleanups.push(() => client.destroy());
    const q1 = query(1, "one.test");
    const q2 = query(2, "two.test");
    const framed = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
    // Both in one write: the stub cuts them apart.
    client.write(Buffer.concat([framed(q1), framed(q2)]));
    const [f1, f2] = [await daemon.frame(0), await daemon.frame(1)];
    expect(f1.flags).toBe(0);
    expect(f1.tag).not.toBe(f2.tag);
    daemon.answer(f2);
    daemon.answer(f1);
    const expected = Buffer.concat([framed(fakeAnswer(q2)), framed(fakeAnswer(q1))]);
    let got = Buffer.alloc(0);
    await new Promise<void>((resolve) =>
      client.on("data", (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= expected.length) resolve();
      }),
    );
    expect(got).toEqual(expected);
  });

  it("answers a TCP client that ended its side after its query, then ends", async () => {
    const { stub, tcpPort } = await startStub();
    const daemon = await connectDaemon(stub);
    const client = net.connect({ port: tcpPort, host: "127.0.0.1", allowHalfOpen: true });
    cleanups.push(() => client.destroy());
    const q = query(3, "half.test");
    client.end(Buffer.concat([Buffer.from([0, q.length]), q]));
    const chunks: Buffer[] = [];
    client.on("data", (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => client.once("end", r));
    daemon.answer(await daemon.frame(0));
    await ended;
    expect(Buffer.concat(chunks).subarray(2)).toEqual(fakeAnswer(q));
  });

  it("answers SERVFAIL when no daemon connection comes, keeping the id and question", async () => {
    const { udpPort } = await startStub({ connectWaitMs: 50 });
    const q = query(0xbeef, "allowed.test");
    const answer = await askUdp(udpPort, q);
    expect(answer).toBeDefined();
    expect(answer!.readUInt16BE(0)).toBe(0xbeef);
    expect(rcode(answer!)).toBe(2);
    expect(answer![2]! & 0x80).toBe(0x80);
    expect(answer!.subarray(12)).toEqual(q.subarray(12));
  });

  it("sends a query that waited for the daemon once it connects", async () => {
    const { stub, udpPort } = await startStub({ connectWaitMs: 2000 });
    const q = query(7, "early.test");
    const answered = askUdp(udpPort, q);
    await new Promise((r) => setTimeout(r, 50));
    const daemon = await connectDaemon(stub);
    daemon.answer(await daemon.frame(0));
    expect(await answered).toEqual(fakeAnswer(q));
  });

  it("forgets a query the daemon leaves unanswered, so it no longer counts in flight", async () => {
    const { stub, udpPort } = await startStub({ queryTimeoutMs: 100, maxInFlight: 1 });
    const daemon = await connectDaemon(stub);
    const late = askUdp(udpPort, query(1, "slow.test"), 400);
    const first = await daemon.frame(0);
    await new Promise((r) => setTimeout(r, 200));
    daemon.answer(first); // too late: dropped
    expect(await late).toBeUndefined();
    const q = query(2, "next.test");
    const answered = askUdp(udpPort, q);
    daemon.answer(await daemon.frame(1));
    expect(await answered).toEqual(fakeAnswer(q));
  });

  it("answers SERVFAIL at once past the in-flight limit", async () => {
    const { stub, udpPort } = await startStub({ maxInFlight: 1 });
    const daemon = await connectDaemon(stub);
    void askUdp(udpPort, query(1, "one.test"), 300);
    await daemon.frame(0);
    const answer = await askUdp(udpPort, query(2, "two.test"), 1000);
    expect(answer && rcode(answer)).toBe(2);
  });

  it("sends waiting queries again on a new daemon connection, which replaces the old", async () => {
    const { stub, udpPort } = await startStub();
    const old = await connectDaemon(stub);
    const q = query(9, "again.test");
    const answered = askUdp(udpPort, q);
    await old.frame(0);
    const fresh = await connectDaemon(stub);
    await new Promise<void>((r) => (old.socket.destroyed ? r() : old.socket.once("close", r)));
    fresh.answer(await fresh.frame(0));
    expect(await answered).toEqual(fakeAnswer(q));
  });

  it("ignores what is not a query", async () => {
    const { stub, udpPort } = await startStub({ connectWaitMs: 50 });
    await connectDaemon(stub);
    const answer = Buffer.from(query(1, "x.test"));
    answer[2] |= 0x80;
    expect(await askUdp(udpPort, answer, 300)).toBeUndefined();
    expect(await askUdp(udpPort, Buffer.from([1, 2, 3]), 300)).toBeUndefined();
  });
});

describe("DnsFrameReader", () => {
  it("cuts frames out of a stream however it is chunked", () => {
    const frames = [
      { tag: 0xffffffff, flags: DNS_FRAME_FLAGS.udp, message: query(1, "a.test") },
      { tag: 2, flags: 0, message: new Uint8Array(0) },
      { tag: 3, flags: 0, message: Buffer.alloc(20_000, 7) },
    ];
    const bytes = Buffer.concat(frames.map((f) => encodeDnsFrame(f)));
    for (const size of [1, 7, 8, 1000, bytes.length]) {
      const reader = new DnsFrameReader();
      const got: DnsFrame[] = [];
      for (let at = 0; at < bytes.length; at += size)
        got.push(...reader.push(bytes.subarray(at, at + size)));
      expect(got.map((f) => ({ ...f, message: Buffer.from(f.message) }))).toEqual(
        frames.map((f) => ({ ...f, message: Buffer.from(f.message) })),
      );
    }
  });
});

describe("servfail", () => {
  it("keeps only the header of a query whose question is cut short", () => {
    const q = query(5, "cut.test").subarray(0, 16);
    const answer = servfail(q);
    expect(answer.length).toBe(12);
    expect(answer.readUInt16BE(4)).toBe(0);
    expect(rcode(answer)).toBe(2);
  });
});

describe("writeResolvConf", () => {
  it("replaces a symlink by a file and leaves the link's target alone", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "resolv-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const target = path.join(dir, "stub-resolv.conf");
    writeFileSync(target, "nameserver 127.0.0.53\n");
    const link = path.join(dir, "resolv.conf");
    symlinkSync("stub-resolv.conf", link);
    expect(readlinkSync(link)).toBe("stub-resolv.conf");
    writeResolvConf(link);
    expect(lstatSync(link).isFile()).toBe(true);
    expect(readFileSync(link, "utf8")).toMatch(/^nameserver 127\.0\.0\.1$/m);
    expect(readFileSync(target, "utf8")).toBe("nameserver 127.0.0.53\n");
  });
});
