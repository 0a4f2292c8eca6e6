import {
  AGENT_NODE_ARGV,
  ExecRequestSchema,
  KillRequestSchema,
  ProcessInfoSchema,
  ProcessListSchema,
  ProcessRefParamsSchema,
  WaitForPortQuerySchema,
  type ExecRequest,
  type ProcessInfo,
} from "@paddock/protocol";
import { z } from "zod";
import { checkArgument } from "./errors.js";
import type { HttpClient } from "./http.js";
import { SandboxProcess, type StdinData } from "./sandbox-process.js";

export interface ExecOptions extends Omit<ExecRequest, "argv" | "stdin" | "pty"> {
  /**
   * Data to feed and then close, or `true` to keep stdin open for `writeStdin`. A stream is fed
   * live while the process runs (exec returns at once); for a terminal use `sandbox.pty`.
   */
  stdin?: boolean | StdinData;
  signal?: AbortSignal;
}

const LANGUAGES = ["python", "node", "sh"] as const;
export type CodeLanguage = (typeof LANGUAGES)[number];

/** The agent's node, which every sandbox has whatever its image. */
const NODE = [...AGENT_NODE_ARGV];
/** Each interpreter reads the program from stdin, so code of any size and content passes. */
const INTERPRETERS: Record<CodeLanguage, string[]> = {
  python: ["python3", "-"],
  node: [...NODE, "-"],
  sh: ["sh", "-s"],
};

const ProcessRefSchema = ProcessRefParamsSchema.shape.ref;
/** The daemon's schema, and a program name: "" would only fail later, as a missing command. */
const ExecCheckSchema = ExecRequestSchema.refine((r) => r.argv[0] !== "", {
  path: ["argv", 0],
  message: "the program name is empty",
});

/** A pid or tag, checked here so a bad one is refused before it is put in a URL. */
function processRef(ref: string | number): string {
  return checkArgument(ProcessRefSchema, String(ref), "ref");
}

/**
 * Processes in one sandbox: `sandbox.process`.
 *
 * @example
 * ```ts
 * const { stdout } = await (await sandbox.process.exec("echo", "hi")).output();
 * ```
 */
export class Processes {
  /** @internal */
  constructor(
    private readonly http: HttpClient,
    private readonly base: string,
  ) {}

  /**
   * Starts a program with arguments, never through a shell.
   * `exec("ls", "-la")` or `exec(["ls", "-la"], { cwd: "/tmp", timeoutMs: 5000 })`.
   * Without `background`, the process is killed if this client disconnects.
   *
   * @example
   * ```ts
   * const proc = await sandbox.process.exec(["python3", "-c", "print(1+1)"], { env: { A: "1" } });
   * console.log(await proc.stdout.text()); // "2\n"
   * ```
   */
  exec(command: string, ...args: string[]): Promise<SandboxProcess>;
  exec(argv: string[], options?: ExecOptions): Promise<SandboxProcess>;
  async exec(first: string | string[], ...rest: unknown[]): Promise<SandboxProcess> {
    // The overloads give these their types; checked here all the same, as the daemon would.
    const argv = Array.isArray(first) ? first : [first, ...(rest as string[])];
    const options = (Array.isArray(first) ? rest[0] : undefined) as ExecOptions | undefined;
    const { stdin, signal, ...request } = options ?? {};
    const keepStdin = stdin !== undefined && stdin !== false;
    const body = { ...request, argv, stdin: keepStdin };
    checkArgument(ExecCheckSchema, body, "exec");
    let proc: SandboxProcess;
    if (request.background) {
      const info = await this.http.json("POST", this.base, ProcessInfoSchema, {
        json: body,
        signal,
      });
      proc = await this.attach(String(info.pid), signal);
    } else {
      const res = await this.http.send("POST", this.base, { json: body, signal });
      proc = await SandboxProcess.fromEvents(this.http, this.base, res.body, signal);
    }
    // A stream flows while the process runs (and may outlast it); bytes are sent whole first.
    if (stdin instanceof ReadableStream) proc.streamStdin(stdin);
    else if (keepStdin && stdin !== true) await proc.writeStdin(stdin, { close: true });
    return proc;
  }

  /**
   * Runs a shell command line with `sh -c`: the explicit way to get pipes, globs and `&&`.
   *
   * @example
   * ```ts
   * const { stdout } = await (await sandbox.process.run("ls /etc | wc -l")).output();
   * ```
   */
  run(command: string, options?: ExecOptions): Promise<SandboxProcess> {
    return this.exec(["sh", "-c", command], options);
  }

  /**
   * Runs a program in python, node or sh; the code goes in on stdin.
   *
   * @example
   * ```ts
   * const { stdout } = await (await sandbox.process.runCode("print(6*7)", { language: "python" })).output();
   * ```
   */
  async runCode(
    code: string,
    options: ExecOptions & { language?: CodeLanguage } = {},
  ): Promise<SandboxProcess> {
    const { language = "python", ...rest } = options;
    checkArgument(z.enum(LANGUAGES), language, "language");
    return this.exec(INTERPRETERS[language], { ...rest, stdin: code });
  }

  /**
   * Reattaches to a process by pid or tag: replays its kept output since start, then live.
   *
   * @example
   * ```ts
   * const server = await sandbox.process.attach("web");
   * ```
   */
  async attach(ref: string | number, signal?: AbortSignal): Promise<SandboxProcess> {
    const res = await this.http.send(
      "GET",
      `${this.base}/${encodeURIComponent(processRef(ref))}/events`,
      { signal },
    );
    return SandboxProcess.fromEvents(this.http, this.base, res.body, signal);
  }

  /**
   * Resolves once something accepts connections on `port` inside the sandbox; throws
   * TimeoutError after `timeoutMs` (default 30 s).
   *
   * @example
   * ```ts
   * await sandbox.process.exec(["python3", "-m", "http.server", "8000"], { background: true });
   * await sandbox.process.waitForPort(8000, { timeoutMs: 10_000 });
   * ```
   */
  async waitForPort(
    port: number,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    checkArgument(WaitForPortQuerySchema, { port, timeoutMs: options.timeoutMs }, "waitForPort");
    const sandboxBase = this.base.replace(/\/processes$/, "");
    await this.http.send("GET", `${sandboxBase}/ports/${port}/wait`, {
      query: { timeoutMs: String(options.timeoutMs ?? 30_000) },
      signal: options.signal,
    });
  }

  /** Processes started through Paddock in this sandbox, running and recently ended. */
  async list(): Promise<ProcessInfo[]> {
    return (await this.http.json("GET", this.base, ProcessListSchema)).processes;
  }

  /** One process by pid or tag. */
  async get(ref: string | number): Promise<ProcessInfo> {
    return this.http.json(
      "GET",
      `${this.base}/${encodeURIComponent(processRef(ref))}`,
      ProcessInfoSchema,
    );
  }

  /** Sends a signal (default SIGKILL) to a process's whole group, by pid or tag. */
  async kill(ref: string | number, signal: NodeJS.Signals = "SIGKILL"): Promise<ProcessInfo> {
    checkArgument(KillRequestSchema, { signal }, "kill");
    return this.http.json(
      "POST",
      `${this.base}/${encodeURIComponent(processRef(ref))}/kill`,
      ProcessInfoSchema,
      { json: { signal } },
    );
  }
}
