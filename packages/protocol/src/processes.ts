import { z } from "zod";
import { EnvSchema } from "./sandbox.js";

const noNul = (what: string) =>
  z.string().refine((s) => !s.includes("\0"), `${what} cannot contain NUL`);

export const PROCESS_LIMITS = {
  argvLength: 4096,
  tagLength: 128,
  maxTimeoutMs: 7 * 24 * 3600 * 1000,
  /** Columns or rows of a terminal. */
  terminalCells: 1000,
} as const;

/** A tag names a background process so it can be found again without its pid. */
export const TagSchema = z
  .string()
  .min(1)
  .max(PROCESS_LIMITS.tagLength)
  .regex(/^[A-Za-z0-9._:-]+$/, "tags are letters, digits, '.', '_', ':' and '-'")
  .refine((t) => !/^\d+$/.test(t), "a tag cannot be all digits (that would look like a pid)");

/** A terminal's size in character cells. */
export const TerminalSizeSchema = z.strictObject({
  cols: z.number().int().min(1).max(PROCESS_LIMITS.terminalCells),
  rows: z.number().int().min(1).max(PROCESS_LIMITS.terminalCells),
});
export type TerminalSize = z.infer<typeof TerminalSizeSchema>;

export const ExecRequestSchema = z
  .strictObject({
    /**
     * The program and its arguments; never run through a shell. Empty only with `pty`: then the
     * user's login shell from /etc/passwd (else /bin/sh) runs.
     */
    argv: z.array(noNul("arguments")).max(PROCESS_LIMITS.argvLength),
    cwd: noNul("cwd").optional(),
    /** Added to the sandbox's environment. */
    env: EnvSchema.optional(),
    /** A user name from the sandbox's /etc/passwd, or a numeric uid. */
    user: z.union([noNul("user").min(1), z.number().int().min(0)]).optional(),
    /** Keep stdin open for writes; otherwise the process reads end-of-file at once. */
    stdin: z.boolean().default(false),
    /** SIGTERM to the whole process group after this, SIGKILL after a grace period. */
    timeoutMs: z.number().int().positive().max(PROCESS_LIMITS.maxTimeoutMs).optional(),
    tag: TagSchema.optional(),
    /** Outlives the request that started it; otherwise a disconnecting client kills it. */
    background: z.boolean().default(false),
    /**
     * Run on a pseudo-terminal of this size: the process gets a controlling terminal as stdin,
     * stdout and stderr (TERM=xterm-256color unless env says otherwise), its output is one byte
     * stream (stdout events) and its input is written as to stdin.
     */
    pty: TerminalSizeSchema.optional(),
  })
  .refine((r) => r.argv.length > 0 || r.pty !== undefined, {
    path: ["argv"],
    message: "argv needs at least the program (only a terminal may leave it empty, for a shell)",
  });
export type ExecRequest = z.input<typeof ExecRequestSchema>;
export type ExecSpec = z.output<typeof ExecRequestSchema>;

export const ExitSchema = z.object({
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  timedOut: z.boolean(),
  /** Killed because the sandbox ran out of memory (it, or a process of its group). */
  oomKilled: z.boolean().default(false),
});
export type ProcessExit = z.infer<typeof ExitSchema>;

/** One line of a process's NDJSON event stream. `data` is base64 so any bytes pass. */
export const ProcessEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("start"), pid: z.number(), tag: z.string().nullable() }),
  z.object({ type: z.literal("stdout"), data: z.string() }),
  z.object({ type: z.literal("stderr"), data: z.string() }),
  /** Older output was dropped from the bounded history before this reader attached. */
  z.object({ type: z.literal("truncated"), droppedBytes: z.number() }),
  z.object({ type: z.literal("exit") }).extend(ExitSchema.shape),
]);
export type ProcessEvent = z.infer<typeof ProcessEventSchema>;

export const ProcessInfoSchema = z.object({
  pid: z.number(),
  tag: z.string().nullable(),
  argv: z.array(z.string()),
  background: z.boolean(),
  startedAt: z.string(),
  running: z.boolean(),
  exit: ExitSchema.nullable(),
  /** The terminal's size, for a process on a pseudo-terminal. */
  pty: TerminalSizeSchema.nullable().default(null),
});
export type ProcessInfo = z.infer<typeof ProcessInfoSchema>;
export const ProcessListSchema = z.object({ processes: z.array(ProcessInfoSchema) });

export const SIGNALS = [
  "SIGTERM",
  "SIGKILL",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGSTOP",
  "SIGCONT",
] as const;
export const KillRequestSchema = z.strictObject({ signal: z.enum(SIGNALS).default("SIGKILL") });

/** A pid, or a tag given at start. */
export const ProcessRefParamsSchema = z.strictObject({
  id: z.string(),
  ref: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, "a process is named by its pid or its tag"),
});

/**
 * Live input to a running process, one JSON line each, on the daemon's upgraded connection to
 * the agent (`PROCESS_STREAM_UPGRADE`). `data` is base64.
 */
export const ProcessInputSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("stdin"), data: z.string() }),
  /** The process reads end-of-file (on a terminal: nothing; send "\x04" for ^D). */
  z.strictObject({ type: z.literal("closeStdin") }),
  /** A terminal's new size; its foreground process gets SIGWINCH. */
  z.strictObject({ type: z.literal("resize") }).extend(TerminalSizeSchema.shape),
]);
export type ProcessInput = z.infer<typeof ProcessInputSchema>;

/**
 * Query of a process stream (agent and public WebSocket): `output=false` sends only the start
 * and exit events, for a client that only writes stdin and reads output elsewhere.
 */
export const ProcessStreamQuerySchema = z.strictObject({
  output: z.enum(["true", "false"]).default("true"),
});

/**
 * Messages of the public process WebSocket (`GET /v1/sandboxes/:id/processes/:ref/stream`):
 * - client to daemon: binary messages are stdin bytes; text messages are one ProcessInput each
 *   without `stdin` (`{"type":"resize","cols":80,"rows":24}`, `{"type":"closeStdin"}`).
 * - daemon to client: binary messages are stdout bytes (a terminal's whole output); text
 *   messages are the other ProcessEvents as JSON (start, stderr with base64 data, truncated,
 *   exit) and, when the stream fails, `{"type":"error","code","message"}`. The socket closes
 *   after the exit (1000) or the error (1011).
 */
export const StreamErrorMessageSchema = z.object({
  type: z.literal("error"),
  code: z.string(),
  message: z.string(),
});
export type StreamErrorMessage = z.infer<typeof StreamErrorMessageSchema>;
