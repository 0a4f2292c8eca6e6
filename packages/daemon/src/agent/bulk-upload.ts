import type { Readable } from "node:stream";
import { BULK_UPGRADE, BulkWriteAnswerSchema, type FileEntry } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import { malformed, parseAnswer, timedOut } from "./answers.js";
import type { AgentClient } from "./client.js";
import { dropRest, sendBody } from "./request-body.js";
import { readAnswerLine } from "./upgrade.js";

/**
 * Sends a large upload of known length to the agent as a paddock-bytes upgrade (see
 * BULK_UPLOAD_BYTES): after the 101 the body goes onto the connection as it is, read in the
 * sandbox by a native helper, and the agent's answer comes back as one JSON line
 * (BulkWriteAnswerSchema): the written file's entry, or the agent's error, thrown. A refusal
 * before the switch is the agent's error too; the client's body is then read and dropped so its
 * connection stays usable. The answer must come within the client's handshake timeout after the
 * last byte is sent.
 */
export async function bulkUpload(
  client: AgentClient,
  agentPath: string,
  body: Readable,
  length: number,
  signal?: AbortSignal,
): Promise<FileEntry> {
  let upgraded;
  try {
    upgraded = await client.upgrade(`${agentPath}&length=${length}`, BULK_UPGRADE, {
      method: "PUT",
      signal,
    });
  } catch (err) {
    dropRest(body);
    throw err;
  }
  const { socket, head } = upgraded;
  const timeoutMs = client.timeouts.handshakeMs;
  return new Promise<FileEntry>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: PaddockError | undefined, entry?: FileEntry) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(entry!);
    };
    readAnswerLine(
      socket,
      head,
      (line) => {
        let answer;
        try {
          answer = parseAnswer(Buffer.from(line), BulkWriteAnswerSchema, "an upload answer");
        } catch (err) {
          return finish(err instanceof PaddockError ? err : malformed("an upload answer", err));
        }
        if (!("error" in answer.body)) return finish(undefined, answer.body);
        const { code, message, details } = answer.body.error;
        finish(new PaddockError(code, message, details));
      },
      (err) =>
        finish(signal?.aborted ? new PaddockError("invalid_request", "the client went away") : err),
    );
    body.once("end", () => {
      if (timeoutMs > 0)
        timer = setTimeout(() => {
          socket.destroy();
          finish(timedOut("the upload's answer", timeoutMs));
        }, timeoutMs);
    });
    // A client that goes away mid-body cuts the connection: the agent drops the upload.
    signal?.addEventListener("abort", () => socket.destroy(), { once: true });
    sendBody(body, socket, { end: false });
  }).catch((err: unknown) => {
    if (!(err instanceof PaddockError)) throw malformed("an upload answer", err);
    throw err;
  });
}
