import { randomInt } from "node:crypto";
import {
  decode,
  encode,
  RECURSION_AVAILABLE,
  TRUNCATED_RESPONSE,
  type Answer,
  type DecodedPacket,
  type Question,
} from "dns-packet";
import type { LearntAddresses } from "./dns-learnt.js";
import type { DnsUpstream } from "./dns-upstream.js";
import { nameAllowed, type SortedPolicy } from "./policy.js";

/** What the relay needs of the network service (NetworkService fits it). */
export interface DnsNetwork {
  /** The sandbox's policy; undefined when it has no network. */
  policy(id: string): SortedPolicy | undefined;
  /** Opens the sandbox's firewall to these IPv4 addresses for about `ttlSeconds`. */
  learn(id: string, addresses: string[], ttlSeconds: number): Promise<void>;
}

const RCODE = { formerr: 1, servfail: 2, nxdomain: 3, notimp: 4 } as const;
const QR = 0x8000;
/** The opcode and RD bits of a query's flags, kept in its answer. */
const OPCODE_RD = 0x7900;
/** The longest TTL passed on to the firewall: nothing here caches an answer longer. */
const MAX_LEARN_TTL_SECONDS = 86_400;
/** CNAMEs followed from a question's name to its addresses. */
const MAX_CHAIN = 16;

/** An answer of `rcode` carrying only the query's header bits and question. */
function refusal(query: Buffer, questions: Question[] | undefined, rcode: number): Buffer {
  const flags = (query.readUInt16BE(2) & OPCODE_RD) | RECURSION_AVAILABLE | rcode;
  if (questions) {
    return encode({ id: query.readUInt16BE(0), type: "response", flags, questions });
  }
  // Not decodable: the header alone, counts zero.
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(QR | flags, 2);
  return header;
}

/** A name as a resolver sends it: the root, or labels of 1 to 63 bytes. */
function wellFormed(name: string): boolean {
  if (name === ".") return true;
  return name.split(".").every((l) => l.length > 0 && Buffer.byteLength(l) <= 63);
}

/** The largest answer a UDP client takes: 512 bytes, more if its EDNS says so (up to 4096). */
function udpLimit(query: DecodedPacket): number {
  const opt = query.additionals?.find((r) => r.type === "OPT");
  const size = opt && "udpPayloadSize" in opt ? opt.udpPayloadSize : 512;
  return Math.min(Math.max(size, 512), 4096);
}

const sameQuestions = (a: Question[] = [], b: Question[] = []) =>
  a.length === b.length &&
  a.every(
    (q, i) =>
      q.name.toLowerCase() === b[i]!.name.toLowerCase() &&
      q.type === b[i]!.type &&
      q.class === b[i]!.class,
  );

const noAaaa = (records: Answer[] | undefined) => records?.filter((r) => r.type !== "AAAA");

/**
 * The IPv4 addresses the answer gives for the question's name, following its CNAME chain,
 * and the longest TTL among them (clients may keep the addresses that long).
 */
export function chainAddresses(
  name: string,
  answers: Answer[],
): { addresses: string[]; ttl: number } {
  const names = new Set([name.toLowerCase()]);
  for (let i = 0; i < MAX_CHAIN; i++) {
    const before = names.size;
    for (const r of answers) {
      if (r.type === "CNAME" && names.has(r.name.toLowerCase())) names.add(r.data.toLowerCase());
    }
    if (names.size === before) break;
  }
  const addresses = new Set<string>();
  let ttl = 0;
  for (const r of answers) {
    if (r.type !== "A" || !names.has(r.name.toLowerCase())) continue;
    addresses.add(r.data);
    ttl = Math.max(ttl, r.ttl ?? 0);
  }
  return { addresses: [...addresses], ttl: Math.min(ttl, MAX_LEARN_TTL_SECONDS) };
}

export interface AnswerContext {
  id: string;
  network: DnsNetwork;
  upstream: DnsUpstream;
  /** What the sandbox's firewall already lets through (learning again is skipped). */
  learnt: LearntAddresses;
  /** Why an allowed query got SERVFAIL (the upstream failed, the firewall did not take it). */
  onFailure(name: string, err: unknown): void;
}

/**
 * The answer to one query of sandbox `ctx.id` (undefined: not a query, nothing to say). Names
 * the policy refuses get NXDOMAIN; others are asked of the upstream, as decoded (so the name
 * asked is the name judged), and its answer comes back without AAAA records (no IPv6), after
 * the firewall has learnt the A addresses (so a connect right after the answer goes through).
 * Over UDP an answer past the client's size comes truncated (TC), and the client asks by TCP.
 */
export async function answerQuery(
  ctx: AnswerContext,
  message: Buffer,
  udp: boolean,
): Promise<Buffer | undefined> {
  try {
    return await answerOrThrow(ctx, message, udp);
  } catch (err) {
    // A bug or an answer dns-packet cannot write back: the client still hears of it.
    ctx.onFailure("?", err);
    return refusal(message, undefined, RCODE.servfail);
  }
}

async function answerOrThrow(
  ctx: AnswerContext,
  message: Buffer,
  udp: boolean,
): Promise<Buffer | undefined> {
  if (message.length < 12 || (message.readUInt16BE(2) & QR) !== 0) return undefined;
  let query: DecodedPacket;
  try {
    query = decode(message);
  } catch {
    return refusal(message, undefined, RCODE.formerr);
  }
  const questions = query.questions ?? [];
  const opcode = (message.readUInt16BE(2) >> 11) & 0xf;
  if (opcode !== 0) return refusal(message, questions, RCODE.notimp); // only QUERY
  if (questions.length === 0 || !questions.every((q) => wellFormed(q.name)))
    return refusal(message, [], RCODE.formerr);
  const policy = ctx.network.policy(ctx.id);
  if (!policy || !questions.every((q) => nameAllowed(policy, q.name)))
    return refusal(message, questions, RCODE.nxdomain);

  const upstreamId = randomInt(0x10000);
  const forwarded = encode({ ...query, id: upstreamId, type: "query" });
  const accept = (answer: Buffer) => {
    if (answer.length < 12 || answer.readUInt16BE(0) !== upstreamId) return false;
    if ((answer.readUInt16BE(2) & QR) === 0) return false;
    if ((answer.readUInt16BE(2) & TRUNCATED_RESPONSE) !== 0) return true; // asked again by TCP
    try {
      return sameQuestions(decode(answer).questions, questions);
    } catch {
      return false;
    }
  };
  const truncated = (answer: Buffer) => (answer.readUInt16BE(2) & TRUNCATED_RESPONSE) !== 0;
  let response: DecodedPacket;
  try {
    response = decode(await ctx.upstream.ask(forwarded, accept, truncated));
    const since = Date.now();
    for (const q of questions) {
      const { addresses, ttl } = chainAddresses(q.name, response.answers ?? []);
      const missing = ctx.learnt.missing(policy, addresses, ttl, since);
      if (missing.length === 0) continue;
      await ctx.network.learn(ctx.id, missing, ttl);
      ctx.learnt.learnt(missing, ttl, since);
    }
  } catch (err) {
    ctx.onFailure(questions[0]!.name, err);
    return refusal(message, questions, RCODE.servfail);
  }
  const full = encode({
    ...response,
    id: query.id,
    answers: noAaaa(response.answers),
    authorities: noAaaa(response.authorities),
    additionals: noAaaa(response.additionals),
  });
  if (!udp || full.length <= udpLimit(query)) return full;
  return encode({
    id: query.id,
    type: "response",
    flags: (response.flags ?? 0) | TRUNCATED_RESPONSE,
    questions,
  });
}
