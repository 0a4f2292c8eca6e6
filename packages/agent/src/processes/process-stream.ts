import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import {
  PROCESS_STREAM_UPGRADE,
  ProcessInputSchema,
  ProcessRefParamsSchema,
  ProcessStreamQuerySchema,
  type ProcessInput,
} from "@paddock/protocol";
import { readQuery } from "../http-body.js";
import { AgentError, type UpgradeHandler } from "../router.js";
import type { EventSink, ManagedProcess } from "./managed-process.js";
import type { ProcessTable } from "./process-table.js";

/** An input line longer than this ends the stream (base64 of a 768 KiB write). */
export const MAX_INPUT_LINE_BYTES = 1024 * 1024;
/** After the exit line, how long a client that keeps its side open is waited for. */
const CLOSE_GRACE_MS = 5000;

const QuerySchema = ProcessStreamQuerySchema.extend({ ref: ProcessRefParamsSchema.shape.ref });

/** Event lines pass only when they are the start or the exit (`output=false`). */
function startAndExitOnly(sink: EventSink): EventSink {
  return {
    write: (line) => (/^\{"type":"(start|exit)"/.test(line) ? sink.write(line) : true),
    once: (event, listener) => sink.once(event, listener),
    end: () => sink.end(),
  };
}

/**
 * `GET /processes/stream?ref=PID_OR_TAG&output=true|false` with `Upgrade: paddock-process`
 * (PROCESS_STREAM_UPGRADE). A missing process is refused before the 101. After it, the agent
 * writes the process's event lines as `/processes/events` does and ends the connection after
 * the exit line; it reads ProcessInput lines from the connection.
 *
 * Input the process cannot take is dropped, not an error: input after the exit, `stdin` and
 * `closeStdin` for a process started without stdin (it reads end of file already), `resize`
 * of a process not on a terminal. So a client that raced an exit simply stops. A line that is
 * not a ProcessInput, or longer than MAX_INPUT_LINE_BYTES, closes the connection. Closing the
 * connection never touches the process: a terminal outlives its client, which may reattach.
 */
export function processStreamHandler(table: ProcessTable): UpgradeHandler {
  return (req: IncomingMessage, connection: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://agent");
    if (url.pathname !== "/processes/stream")
      throw new AgentError(
        "invalid_request",
        "process streams are GET /processes/stream?ref=PID_OR_TAG",
      );
    const { ref, output } = readQuery(url, QuerySchema);
    const proc = table.get(ref);
    connection.write(
      `HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${PROCESS_STREAM_UPGRADE}\r\n\r\n`,
    );
    const socket = connection as Duplex & { setNoDelay?: (on: boolean) => void };
    socket.setNoDelay?.(true);
    const sink: EventSink = {
      write: (line) => connection.write(line),
      once: (event, listener) => connection.once(event, listener),
      end: () => {
        connection.end();
        // A client still sending after the exit is read (and dropped) until it closes; one
        // that never does is cut off.
        setTimeout(() => connection.destroy(), CLOSE_GRACE_MS).unref();
      },
    };
    const detach = proc.attach(output === "true" ? sink : startAndExitOnly(sink));
    connection.on("close", detach);
    readInput(proc, connection, head);
  };
}

/** Reads ProcessInput lines from the connection and applies them to the process. */
function readInput(proc: ManagedProcess, connection: Duplex, head: Buffer): void {
  // While the process does not read its stdin, the client is not read either (backpressure);
  // its exit, or its stdin closing, lets input flow again (to be dropped).
  const resume = () => connection.resume();
  void proc.done.then(resume);
  proc.stdin?.once("close", resume);
  const apply = (input: ProcessInput) => {
    const stdin = proc.stdin;
    const open = proc.running && stdin !== null && !stdin.writableEnded && !stdin.destroyed;
    if (input.type === "resize") {
      if (proc.running && proc.info().pty) proc.resize({ cols: input.cols, rows: input.rows });
    } else if (!open) {
      // Dropped: see processStreamHandler.
    } else if (input.type === "closeStdin") {
      stdin.end();
    } else if (!stdin.write(Buffer.from(input.data, "base64")) && !connection.isPaused()) {
      connection.pause();
      stdin.once("drain", resume);
    }
  };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const onData = (chunk: Buffer) => {
    let at = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, at)) {
      const line = Buffer.concat([...pending, chunk.subarray(at, nl)]);
      pending = [];
      pendingBytes = 0;
      at = nl + 1;
      if (line.length > MAX_INPUT_LINE_BYTES) return connection.destroy();
      const input = parseInput(line);
      if (!input) return connection.destroy();
      apply(input);
    }
    pendingBytes += chunk.length - at;
    if (pendingBytes > MAX_INPUT_LINE_BYTES) return connection.destroy();
    if (at < chunk.length) pending.push(chunk.subarray(at));
  };
  connection.on("data", onData);
  if (head.length > 0) onData(head);
}

function parseInput(line: Buffer): ProcessInput | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line.toString("utf8"));
  } catch {
    return undefined;
  }
  const parsed = ProcessInputSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
