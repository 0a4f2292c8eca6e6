import { z } from "zod";

/**
 * How long the daemon waits for a sandbox's agent, in milliseconds. The daemon treats its agents
 * as untrusted peers: a silent agent costs a caller at most these, never a hung request.
 */
export const AGENT_TIMEOUTS = {
  /** The daemon's own small calls (health, OOM kill, small files): the whole answer. */
  callMs: 10_000,
  /**
   * Any other request, counted from when its body is sent: the answer's headers and, for a
   * process event stream, its first event (`start`). After that a stream has no deadline (a
   * process may run for days); JSON answers must arrive whole within it. Routes that wait by
   * design (`/ports/wait`) or work through whole trees (find, replace, delete, archive) add
   * their own time to it. The clock starts once the body is sent: an agent that stops reading
   * an upload holds back only that request (backpressure), which its caller can abort.
   */
  handshakeMs: 30_000,
  /** What a long file operation (find, replace, recursive delete, archive upload) may add. */
  longOperationMs: 10 * 60_000,
} as const;
export type AgentTimeouts = { -readonly [K in keyof typeof AGENT_TIMEOUTS]: number };

/** The most the daemon reads of one agent answer, in bytes: past these it is an agent_error. */
export const AGENT_ANSWER_LIMITS = {
  /** A JSON answer (the largest real ones: a listing of 100k entries, 10k find matches). */
  jsonBytes: 32 * 1024 * 1024,
  /** An error answer. */
  errorBytes: 64 * 1024,
  /** One line of a process event stream (the agent sends 16 KiB of output per event). */
  eventLineBytes: 1024 * 1024,
  /** The answer line after a bulk upload or the 101 of an upgrade. */
  upgradeAnswerBytes: 1024 * 1024,
} as const;

/** The agent's answer to `POST /memory/oom-kill`: the process it killed, if any. */
export const OomKillAnswerSchema = z.object({
  killed: z.object({ pid: z.number().int(), rssBytes: z.number(), command: z.string() }).nullable(),
});
export type OomKillAnswer = z.infer<typeof OomKillAnswerSchema>;
