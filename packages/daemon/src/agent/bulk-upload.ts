import http from "node:http";
import type { Readable } from "node:stream";
import type { FastifyReply } from "fastify";
import { BULK_UPGRADE, type BulkWriteAnswer } from "@paddock/protocol";
import type { AgentClient } from "./client.js";
import { agentUnavailable, dropRest, passOn, sendBody } from "./proxy.js";

/** An answer line longer than this is not the agent's. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * Sends a large upload of known length to the agent as a paddock-bytes upgrade (see
 * BULK_UPLOAD_BYTES): after the 101 the body goes onto the connection as it is, read in the
 * sandbox by a native helper, and the agent's answer comes back as one JSON line, which
 * becomes this request's answer. A refusal before the switch is an ordinary HTTP answer and is
 * passed on like any other.
 */
export function bulkUploadToAgent(
  client: AgentClient,
  reply: FastifyReply,
  agentPath: string,
  body: Readable,
  length: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      socketPath: client.socketPath,
      method: "PUT",
      path: `${agentPath}&length=${length}`,
      headers: { connection: "upgrade", upgrade: BULK_UPGRADE },
      agent: false,
    });
    let settled = false;
    const clientGone = () => reply.raw.destroyed || (body.destroyed && !body.readableEnded);
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };

    request.on("response", (res) => {
      settle(() => {
        dropRest(body);
        passOn(res, reply).finally(resolve);
      });
    });
    request.on("upgrade", (_res, connection, head) => {
      let text = head.toString("utf8");
      const answered = (answer: BulkWriteAnswer) =>
        settle(() => {
          connection.destroy();
          const data = JSON.stringify(answer.body);
          void reply.hijack();
          reply.raw.writeHead(answer.status, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(data),
            "cache-control": "no-store",
          });
          reply.raw.end(data);
          resolve();
        });
      const onText = () => {
        const newline = text.indexOf("\n");
        if (newline < 0) {
          if (text.length > MAX_ANSWER_BYTES) connection.destroy();
          return;
        }
        let answer: BulkWriteAnswer;
        try {
          answer = JSON.parse(text.slice(0, newline)) as BulkWriteAnswer;
        } catch {
          return connection.destroy();
        }
        answered(answer);
      };
      connection.setEncoding("utf8").on("data", (d: string) => {
        text += d;
        onText();
      });
      connection.on("error", () => {});
      connection.on("close", () =>
        settle(() => {
          // The client went away (and the agent dropped the upload), or the agent did.
          if (clientGone()) resolve();
          else reject(agentUnavailable(new Error("the connection closed without an answer")));
        }),
      );
      sendBody(body, connection, { end: false });
      onText();
    });
    request.on("error", (err) =>
      settle(() => (clientGone() ? resolve() : reject(agentUnavailable(err)))),
    );
    // A client that leaves before the switch: the agent's side goes too, and drops the upload.
    reply.raw.once("close", () => {
      if (!settled) request.destroy();
    });
    request.end();
  });
}
