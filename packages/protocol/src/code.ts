import { z } from "zod";
import { ExecRequestSchema, ExitSchema, PROCESS_LIMITS } from "./processes.js";
import { SandboxIdParamsSchema } from "./sandbox.js";

/**
 * Code contexts: long-lived interpreters in a sandbox that keep their state between runs
 * (`x = 42`, then `print(x)`), like a notebook's kernel. The agent runs each one as an ordinary
 * process (tagged `code.<context id>`) with a small driver that reads one run at a time.
 */
export const CODE_LANGUAGES = ["python", "node"] as const;
export const CodeLanguageSchema = z.enum(CODE_LANGUAGES, {
  error: () => `language must be one of: ${CODE_LANGUAGES.join(", ")}`,
});
export type CodeContextLanguage = z.infer<typeof CodeLanguageSchema>;

export const CODE_LIMITS = {
  /** One run's code, in characters (the daemon takes JSON bodies of at most 1 MiB). */
  codeLength: 1024 * 1024,
  /** Contexts in one sandbox at once. */
  contexts: 64,
  /** The text of a run's value; longer ones are cut with a note. */
  valueLength: 1024 * 1024,
} as const;

/** Context ids are made by the agent: `ctx-` and hex, or `default-<language>`. */
export const CodeContextIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, "a context id looks like ctx-1a2b3c4d or default-python");

export const CreateCodeContextRequestSchema = z.strictObject({
  language: CodeLanguageSchema.default("python"),
  cwd: ExecRequestSchema.shape.cwd,
  env: ExecRequestSchema.shape.env,
  user: ExecRequestSchema.shape.user,
});
export type CreateCodeContextRequest = z.input<typeof CreateCodeContextRequestSchema>;
export type CodeContextSpec = z.output<typeof CreateCodeContextRequestSchema>;

export const CodeContextSchema = z.object({
  id: z.string(),
  language: CodeLanguageSchema,
  /** The interpreter's working directory. */
  cwd: z.string(),
  /** The interpreter's pid (also a process of `GET /processes`, tagged `code.<id>`). */
  pid: z.number(),
  /** False once the interpreter has died: restart or close the context. */
  running: z.boolean(),
  /** How the interpreter ended, once it has. */
  exit: ExitSchema.nullable(),
  createdAt: z.string(),
});
export type CodeContext = z.infer<typeof CodeContextSchema>;
export const CodeContextListSchema = z.object({ contexts: z.array(CodeContextSchema) });

export const CodeRunRequestSchema = z.strictObject({
  code: z.string().max(CODE_LIMITS.codeLength),
  /** The context to run in; without it, the language's default context (made on first use). */
  context: CodeContextIdSchema.optional(),
  /** Picks the default context when `context` is not given. */
  language: CodeLanguageSchema.optional(),
  /**
   * The run is interrupted after this (Python: KeyboardInterrupt; Node: the script is stopped)
   * and its error is a TimeoutError; the context and its state survive. Counted from the run's
   * start, not from the wait behind an earlier run of the same context.
   */
  timeoutMs: z.number().int().positive().max(PROCESS_LIMITS.maxTimeoutMs).optional(),
});
export type CodeRunRequest = z.input<typeof CodeRunRequestSchema>;

export const CodeErrorSchema = z.object({
  /** Python: the exception's type name; Node: error.name; `TimeoutError` after a timeout. */
  name: z.string(),
  message: z.string(),
  /** Python: the formatted traceback; Node: the stack. The driver's own frames are left out. */
  traceback: z.string(),
});
export type CodeError = z.infer<typeof CodeErrorSchema>;

/**
 * One line of a run's NDJSON answer: output as it is printed (base64, so any bytes pass; what
 * child processes print too), then one `result` (or, if the context failed while the run
 * waited or ran, one `error`). Runs in one context go one at a time: a run waits for the one
 * before it.
 */
export const CodeRunEventSchema = z.discriminatedUnion("type", [
  /** First, at once (a run may wait for the one before it in its context). */
  z.object({ type: z.literal("start"), context: z.string() }),
  z.object({ type: z.literal("stdout"), data: z.string() }),
  z.object({ type: z.literal("stderr"), data: z.string() }),
  z.object({
    type: z.literal("result"),
    context: z.string(),
    /** The REPL text of the last expression's value; null when there is none (None, undefined). */
    value: z.string().nullable(),
    error: CodeErrorSchema.nullable(),
    timedOut: z.boolean(),
  }),
  z.object({ type: z.literal("error"), code: z.string(), message: z.string() }),
]);
export type CodeRunEvent = z.infer<typeof CodeRunEventSchema>;

export const CodeContextParamsSchema = SandboxIdParamsSchema.extend({
  context: CodeContextIdSchema,
});
