import {
  CodeContextIdSchema,
  CodeContextListSchema,
  CodeContextSchema,
  CodeRunEventSchema,
  CodeRunRequestSchema,
  CreateCodeContextRequestSchema,
  ERROR_CODES,
  ERROR_STATUS,
  type CodeContext,
  type CodeContextLanguage,
  type CodeError,
  type CreateCodeContextRequest,
} from "@paddock/protocol";
import { checkArgument, errorFromResponse, InvalidResponseError } from "./errors.js";
import { checkedValue, ndjson, type HttpClient } from "./http.js";

export type CodeContextOptions = CreateCodeContextRequest;

export interface CodeRunOptions {
  /** The context (or its id) to run in; without it, the language's default context. */
  context?: CodeContext | string;
  /** Picks the default context (`default-python`, `default-node`); python unless given. */
  language?: CodeContextLanguage;
  /** Interrupts the code after this; the result's error is a TimeoutError, the state is kept. */
  timeoutMs?: number;
  /** Each piece of output as it is printed (UTF-8 text; a character is never split). */
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  /** Aborting interrupts the run in the sandbox; the context lives on. */
  signal?: AbortSignal;
}

export interface CodeRunResult {
  /** The context the code ran in. */
  context: string;
  stdout: string;
  stderr: string;
  /** The REPL text of the last expression's value (Python repr, Node util.inspect), or null. */
  value: string | null;
  /** What the code raised (a timeout is a TimeoutError); a raised error is a result, not thrown. */
  error: CodeError | null;
  timedOut: boolean;
}

const contextId = (context: CodeContext | string) =>
  checkArgument(CodeContextIdSchema, typeof context === "string" ? context : context.id, "context");

/** Text of one output stream, decoded as it comes. */
class TextCollector {
  text = "";
  private readonly decoder = new TextDecoder();
  constructor(private readonly listener?: (text: string) => void) {}

  push(data: Uint8Array | undefined): void {
    const text = this.decoder.decode(data, { stream: data !== undefined });
    if (!text) return;
    this.text += text;
    this.listener?.(text);
  }
}

/**
 * Code that keeps its state: `sandbox.code`. A context is a python or node interpreter that
 * lives on between runs, like a notebook's kernel. One-off programs are `sandbox.process.runCode`.
 *
 * @example
 * ```ts
 * await sandbox.code.run("x = 42");
 * const { stdout } = await sandbox.code.run("print(x)"); // "42\n"
 * ```
 */
export class CodeInterpreter {
  /** @internal */
  constructor(
    private readonly http: HttpClient,
    private readonly base: string,
  ) {}

  /**
   * Starts an interpreter (python3 from the image, or the agent's own node, in any image).
   *
   * @example
   * ```ts
   * const ctx = await sandbox.code.createContext({ language: "node", cwd: "/tmp" });
   * await sandbox.code.run("const fs = require('fs')", { context: ctx });
   * ```
   */
  async createContext(options: CodeContextOptions = {}): Promise<CodeContext> {
    checkArgument(CreateCodeContextRequestSchema, options, "createContext");
    return this.http.json("POST", `${this.base}/contexts`, CodeContextSchema, { json: options });
  }

  /**
   * Runs code and resolves with its output, the last expression's value and any error it
   * raised. Runs in one context wait for each other. A dead interpreter is a ConflictError
   * (restart the context); an unknown context a NotFoundError.
   *
   * @example
   * ```ts
   * const r = await sandbox.code.run("import time\nprint(1); time.sleep(1); 6 * 7", {
   *   onStdout: (text) => process.stdout.write(text),
   *   timeoutMs: 10_000,
   * });
   * console.log(r.value); // "42"
   * ```
   */
  async run(code: string, options: CodeRunOptions = {}): Promise<CodeRunResult> {
    const { context, language, timeoutMs, onStdout, onStderr, signal } = options;
    const json = {
      code,
      context: context === undefined ? undefined : contextId(context),
      language,
      timeoutMs,
    };
    checkArgument(CodeRunRequestSchema, json, "run");
    const res = await this.http.send("POST", `${this.base}/run`, { json, signal });
    const what = "the code run's event stream";
    const stdout = new TextCollector(onStdout);
    const stderr = new TextCollector(onStderr);
    for await (const raw of ndjson(res.body, { what, cut: "agent_unavailable", signal })) {
      const event = checkedValue(CodeRunEventSchema, raw, `${what} sent an event`);
      if (event.type === "start") continue;
      if (event.type === "stdout") stdout.push(Buffer.from(event.data, "base64"));
      else if (event.type === "stderr") stderr.push(Buffer.from(event.data, "base64"));
      else if (event.type === "error") {
        const code = ERROR_CODES.find((c) => c === event.code) ?? "internal";
        throw errorFromResponse(ERROR_STATUS[code], { error: { code, message: event.message } });
      } else {
        stdout.push(undefined);
        stderr.push(undefined);
        const { context: ran, value, error, timedOut } = event;
        return { context: ran, stdout: stdout.text, stderr: stderr.text, value, error, timedOut };
      }
    }
    throw new InvalidResponseError("invalid_response", `${what} ended without a result`, 200);
  }

  /** A fresh interpreter under the same id: every variable is gone. */
  async restart(context: CodeContext | string): Promise<CodeContext> {
    const id = contextId(context);
    return this.http.json("POST", `${this.base}/contexts/${id}/restart`, CodeContextSchema);
  }

  /** Kills the context's interpreter; the context is gone. */
  async close(context: CodeContext | string): Promise<CodeContext> {
    return this.http.json(
      "DELETE",
      `${this.base}/contexts/${contextId(context)}`,
      CodeContextSchema,
    );
  }

  /** One context, with whether its interpreter still runs. */
  async getContext(context: CodeContext | string): Promise<CodeContext> {
    return this.http.json("GET", `${this.base}/contexts/${contextId(context)}`, CodeContextSchema);
  }

  /** Every context of the sandbox, the default ones included once used. */
  async listContexts(): Promise<CodeContext[]> {
    return (await this.http.json("GET", `${this.base}/contexts`, CodeContextListSchema)).contexts;
  }
}
