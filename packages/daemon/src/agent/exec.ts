import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { ProcessInfoSchema, type ExecRequest, type ProcessExit } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import { malformed, timedOut } from "./answers.js";
import type { AgentClient } from "./client.js";

export interface Collected extends ProcessExit {
  stdout: string;
  stderr: string;
}

/** Keeps the last `limit` characters of a growing text. */
class Tail {
  text = "";
  constructor(private readonly limit: number) {}
  push(s: string): void {
    this.text += s;
    if (this.text.length > 2 * this.limit) this.text = this.text.slice(-this.limit);
  }
  get value(): string {
    return this.text.slice(-this.limit);
  }
}

/** A daemon's own command that names no timeout is given this one (the agent kills it then). */
const DEFAULT_COLLECT_TIMEOUT_MS = 60_000;

/**
 * Runs a program through a sandbox's agent for the daemon's own needs (starting dockerd, running
 * docker compose) and returns its exit and the tail of its output. Same agent, same checked
 * event stream as a user's exec. Bounded: the agent kills the program after its `timeoutMs`
 * (60 s unless given), and the daemon gives up a handshake timeout after that.
 */
export async function execCollect(
  client: AgentClient,
  request: ExecRequest,
  options: {
    stdin?: Buffer | Readable;
    outputLimit?: number;
    /** Each piece of output as it comes (whole characters), beside the tails kept. */
    onOutput?: (stream: "stdout" | "stderr", text: string) => void;
  } = {},
): Promise<Collected> {
  const limit = options.outputLimit ?? 64 * 1024;
  const timeoutMs = request.timeoutMs ?? DEFAULT_COLLECT_TIMEOUT_MS;
  const stdout = new Tail(limit);
  const stderr = new Tail(limit);
  // A character split between two events is kept for the next.
  const decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  const output = (stream: "stdout" | "stderr", data: string) => {
    const text = decoders[stream].write(Buffer.from(data, "base64"));
    (stream === "stdout" ? stdout : stderr).push(text);
    if (text) options.onOutput?.(stream, text);
  };
  let exit: ProcessExit | undefined;
  let stdinDone: Promise<void> = Promise.resolve();
  /** A failed stdin write counts if it failed while the program still ran. */
  let stdinError: unknown;
  const stream = await client.events(
    {
      method: "POST",
      path: "/processes",
      body: JSON.stringify({ ...request, timeoutMs, stdin: options.stdin !== undefined }),
      contentType: "application/json",
    },
    (event) => {
      if (event.type === "start") {
        if (options.stdin)
          stdinDone = writeStdin(client, event.pid, options.stdin).catch((err: unknown) => {
            if (!exit) stdinError = err;
          });
      } else if (event.type === "stdout" || event.type === "stderr") output(event.type, event.data);
      else if (event.type === "exit")
        exit = {
          exitCode: event.exitCode,
          signal: event.signal,
          timedOut: event.timedOut,
          oomKilled: event.oomKilled,
        };
    },
  );
  const budget = timeoutMs + client.timeouts.handshakeMs;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy(timedOut(`the end of ${request.argv[0]}`, budget));
    }, budget);
    stream.on("error", (err) => {
      clearTimeout(timer);
      reject(err instanceof PaddockError ? err : malformed("an event stream", err));
    });
    stream.on("end", () => {
      clearTimeout(timer);
      resolve();
    });
    stream.resume();
  });
  await stdinDone;
  if (stdinError) throw stdinError;
  // EventLines ends a stream only after its exit event.
  if (!exit) throw malformed("an event stream without an exit");
  return { ...exit, stdout: stdout.value, stderr: stderr.value };
}

async function writeStdin(client: AgentClient, pid: number, data: Buffer | Readable) {
  await client.json(
    {
      method: "POST",
      path: `/processes/stdin?ref=${pid}&close=true`,
      body: data,
      contentType: "application/octet-stream",
    },
    ProcessInfoSchema,
  );
}

/** Starts a background process through the agent; resolves once it runs. */
export async function startBackground(
  client: AgentClient,
  request: Omit<ExecRequest, "background">,
): Promise<void> {
  try {
    await client.json(
      {
        method: "POST",
        path: "/processes",
        body: JSON.stringify({ ...request, background: true }),
        contentType: "application/json",
      },
      ProcessInfoSchema,
      201,
    );
  } catch (err) {
    // The agent's own code is kept (command_not_found, resource_exhausted…).
    const code = err instanceof PaddockError ? err.code : "runtime_error";
    throw new PaddockError(
      code,
      `could not start ${request.argv[0]}: ${errorMessage(err)}`,
      undefined,
      {
        cause: err,
      },
    );
  }
}
