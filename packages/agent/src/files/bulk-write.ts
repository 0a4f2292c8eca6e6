import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import type { Duplex, Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { BulkWriteQuerySchema, type BulkWriteAnswer } from "@paddock/protocol";
import { readQuery } from "../http-body.js";
import { AgentError, errorAnswer, type UpgradeHandler } from "../router.js";
import { atomicWrite } from "./atomic-write.js";
import { entryFor } from "./entry.js";
import { realSandboxPath } from "./paths.js";

/** Built beside the agent's bundle (scripts/post-build.mjs, from native/copy.c). */
const COPY_HELPER = fileURLToPath(new URL("./paddock-copy", import.meta.url));

interface Copy {
  /** Settles once the helper has written every byte into the file, or could not. */
  copied: Promise<void>;
  /** Has the helper send `text` on the connection, then end. */
  answer(text: string): void;
}

/** The helper's report line ("ok N", "cut N", "write ENOSPC", "read EPIPE") as an outcome. */
function outcome(report: string, length: number): Error | undefined {
  const [kind = "", detail = ""] = report.trim().split(" ");
  if (kind === "ok") return undefined;
  if (kind === "cut")
    return new AgentError("invalid_request", `the upload ended after ${detail} of ${length} bytes`);
  if (kind === "write")
    return Object.assign(new Error(`write failed: ${detail}`), { code: detail });
  return new Error(`paddock-copy failed: ${report.trim() || "it ended without a report"}`);
}

/**
 * Hands the connection to paddock-copy, which answers 101 and copies `length` bytes into the
 * new file `tmp`. From here on only the helper reads the connection: the agent closes its own
 * descriptor at once (the helper holds a duplicate), so Node never takes a byte of it.
 */
function startCopy(connection: Duplex, tmp: string, length: number): Copy {
  const fd = openSync(tmp, "wx", 0o600);
  let child: ChildProcess;
  try {
    child = spawn(COPY_HELPER, [String(length)], { stdio: [connection, fd, "pipe", "pipe"] });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) {
    // Not started (the error event follows): the connection is still the agent's to answer on.
    child.on("error", () => {});
    throw new AgentError(
      "resource_exhausted",
      "the sandbox could not start the upload's helper process (is its process limit reached?); end some processes and retry",
    );
  }
  connection.destroy();
  const report = child.stdio[2] as Readable;
  const answers = child.stdio[3] as Writable;
  answers.on("error", () => {});
  const copied = new Promise<void>((resolve, reject) => {
    let text = "";
    report.setEncoding("utf8").on("data", (d: string) => (text += d));
    report.on("end", () => {
      const failed = outcome(text, length);
      if (failed) reject(failed);
      else resolve();
    });
  });
  return { copied, answer: (text) => answers.end(text) };
}

/**
 * `PUT /files/write?path=…&length=N` upgraded to paddock-bytes (see BULK_UPLOAD_BYTES): the
 * same atomic write as an ordinary upload, with the bytes moved by paddock-copy. An error before
 * the switch is thrown, for the router to answer as a plain HTTP refusal; after it, the answer
 * is one BulkWriteAnswer line.
 */
export function bulkWrite(limits: { maxUploadBytes: number }): UpgradeHandler {
  return async (req, connection, head) => {
    let copy: Copy | undefined;
    let answer: BulkWriteAnswer;
    try {
      const q = readQuery(new URL(req.url ?? "/", "http://agent"), BulkWriteQuerySchema);
      if (head.length > 0)
        throw new AgentError("invalid_request", "send the bytes only after the 101 answer");
      if (q.length > limits.maxUploadBytes) {
        throw new AgentError(
          "payload_too_large",
          `uploads are limited to ${limits.maxUploadBytes} bytes; nothing was kept`,
        );
      }
      const target = realSandboxPath(q.path);
      await atomicWrite(
        target,
        async (tmp) => {
          copy = startCopy(connection, tmp, q.length);
          await copy.copied;
        },
        { mode: q.mode, parents: q.parents },
      );
      answer = { status: 200, body: await entryFor(target) };
    } catch (err) {
      if (!copy) throw err;
      answer = errorAnswer(err);
    }
    // Past the write the helper holds the connection (fill ran): the answer goes through it.
    copy!.answer(`${JSON.stringify(answer)}\n`);
  };
}
