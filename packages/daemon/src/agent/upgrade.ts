import http from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { AGENT_ANSWER_LIMITS } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import {
  checkStatus,
  classifyTransport,
  errorFromAnswer,
  malformed,
  readBounded,
  timedOut,
} from "./answers.js";

/** An upgraded connection to the agent, and what came on it after the 101. */
export interface Upgraded {
  socket: Socket;
  head: Buffer;
}

/**
 * An HTTP upgrade to `protocol` on the agent's socket (its own connection, never a pooled one).
 * Resolves with the switched connection once a 101 naming `protocol` came, within `timeoutMs`;
 * a refusal is the agent's error, anything else an agent_error. Only the daemon's client
 * (client.ts) calls this.
 */
export function upgradeAgent(
  socketPath: string,
  path: string,
  protocol: string,
  options: { method: string; signal?: AbortSignal; timeoutMs: number },
): Promise<Upgraded> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      socketPath,
      method: options.method,
      path,
      headers: { connection: "upgrade", upgrade: protocol },
      agent: false,
    });
    let settled = false;
    const settle = (err: PaddockError | undefined, value?: Upgraded) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (err) {
        request.destroy();
        reject(err);
      } else resolve(value!);
    };
    const timer =
      options.timeoutMs > 0
        ? setTimeout(() => settle(timedOut("its 101", options.timeoutMs)), options.timeoutMs)
        : undefined;
    const onAbort = () => settle(new PaddockError("invalid_request", "the client went away"));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });

    request.on("upgrade", (res, socket, head) => {
      const named = String(res.headers.upgrade ?? "").toLowerCase();
      if (settled || named !== protocol) {
        socket.destroy();
        return settle(malformed(`a switch to ${JSON.stringify(named)} instead of ${protocol}`));
      }
      settle(undefined, { socket, head });
    });
    request.on("response", (res) => {
      // A refusal before the switch: an ordinary HTTP answer.
      void (async () => {
        try {
          const status = checkStatus(res);
          const body = await readBounded(res, AGENT_ANSWER_LIMITS.errorBytes);
          settle(
            status >= 300 ? errorFromAnswer(status, body) : malformed(`${status} to an upgrade`),
          );
        } catch (err) {
          settle(classifyTransport(err));
        }
      })();
    });
    request.on("error", (err) => settle(classifyTransport(err)));
    request.end();
  });
}

/**
 * Reads one answer line (up to "\n") from an upgraded connection, at most
 * AGENT_ANSWER_LIMITS.upgradeAnswerBytes: `head` first, then the connection. The line is
 * handed to `onLine`; a connection that closes first, or a line past the limit, to `onFail`.
 */
export function readAnswerLine(
  connection: Duplex,
  head: Buffer,
  onLine: (line: string) => void,
  onFail: (err: PaddockError) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  const take = (chunk: Buffer) => {
    if (done) return;
    const nl = chunk.indexOf(0x0a);
    if (nl < 0) {
      size += chunk.length;
      chunks.push(chunk);
      if (size > AGENT_ANSWER_LIMITS.upgradeAnswerBytes) {
        done = true;
        chunks.length = 0;
        connection.destroy();
        onFail(malformed(`an answer line over ${AGENT_ANSWER_LIMITS.upgradeAnswerBytes} bytes`));
      }
      return;
    }
    done = true;
    chunks.push(chunk.subarray(0, nl));
    onLine(Buffer.concat(chunks).toString("utf8"));
  };
  connection.on("data", take);
  connection.on("error", () => {});
  connection.once("close", () => {
    if (done) return;
    done = true;
    onFail(
      size > 0
        ? malformed("an answer line that was cut off")
        : new PaddockError(
            "agent_unavailable",
            "the agent closed the connection without an answer",
          ),
    );
  });
  if (head.length > 0) take(head);
}
