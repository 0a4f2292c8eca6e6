import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import {
  RESERVED_PREFIX,
  WATCH_LIMITS,
  type WatchChange,
  type WatchEvent,
} from "@paddock/protocol";
import { AgentError } from "../router.js";
import { fileError, onPath } from "./errno.js";

/**
 * Built beside the agent's bundle (scripts/post-build.mjs, from native/watch.c). Unit tests run
 * the agent from its sources, so they name the built one with this variable.
 */
const helperPath = () =>
  process.env.PADDOCK_WATCH_HELPER ?? fileURLToPath(new URL("./paddock-watch", import.meta.url));

/** Never descended into by a recursive watch: kernel trees full of churn, and the agent's own. */
const SKIPPED = ["/proc", "/sys", "/dev", RESERVED_PREFIX];

const CHANGES: Record<string, WatchChange> = {
  c: "create",
  w: "write",
  d: "remove",
  m: "rename",
  a: "chmod",
};

const NDJSON = { "content-type": "application/x-ndjson", "cache-control": "no-store" };

let open = 0;

/** Watches open now (each holds one helper process). */
export const openWatches = () => open;

/** The helper's records (see native/watch.c), each ended by a NUL byte. */
async function* records(out: Readable): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of out as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let from = 0;
    for (let nul = pending.indexOf(0); nul >= 0; nul = pending.indexOf(0, from)) {
      yield pending.subarray(from, nul);
      from = nul + 1;
    }
    pending = pending.subarray(from);
  }
}

/** An "E<ERRNO> <PATH>" record as the error it stands for. */
function watchError(record: string): unknown {
  const space = record.indexOf(" ");
  const errno = record.slice(1, space);
  const where = record.slice(space + 1);
  if (errno === "ENOSPC" || errno === "EMFILE")
    return new AgentError(
      "resource_exhausted",
      `the sandbox's inotify limit is reached while watching ${where}: watch fewer directories (recursive: false, or a smaller tree)`,
    );
  return fileError(Object.assign(new Error(`${errno} on ${where}`), { code: errno }), where);
}

/**
 * Streams the changes in directory `dir` (resolved already) as WatchEvent lines. The path is
 * checked and the watch set up before the answer starts, so a bad path is a plain error answer;
 * the helper stops when the client goes away.
 */
export async function streamWatch(
  dir: string,
  recursive: boolean,
  res: ServerResponse,
): Promise<void> {
  const st = await onPath(dir, () => stat(dir));
  if (!st.isDirectory()) throw new AgentError("invalid_request", `${dir} is not a directory`);
  if (open >= WATCH_LIMITS.perSandbox)
    throw new AgentError(
      "resource_exhausted",
      `${WATCH_LIMITS.perSandbox} watches are open in this sandbox already: stop one first`,
    );
  const args = [...(recursive ? ["-r"] : []), dir, ...SKIPPED.flatMap((p) => ["-x", p])];
  const child = spawn(helperPath(), args, { stdio: ["pipe", "pipe", "ignore"] });
  child.on("error", () => {});
  if (child.pid === undefined)
    throw new AgentError(
      "resource_exhausted",
      "the sandbox could not start the watch's helper process (is its process limit reached?); end some processes and retry",
    );
  open++;
  child.once("close", () => open--);
  const stop = () => child.kill("SIGKILL");
  res.once("close", stop);
  const line = (event: WatchEvent) => res.write(`${JSON.stringify(event)}\n`);
  let ready = false;
  try {
    for await (const raw of records(child.stdout!)) {
      const record = raw.toString("utf8");
      const kind = record[0];
      if (kind === "E") throw watchError(record);
      if (kind === "R") {
        res.writeHead(200, NDJSON);
        // Each event reaches the client as soon as it is written.
        res.socket?.setNoDelay(true);
        line({ type: "ready", path: dir });
        ready = true;
      } else if (kind === "O") line({ type: "overflow" });
      else if (kind === "G") {
        line({ type: "end", reason: `${dir} was removed or moved` });
        return void res.end();
      } else {
        const p = record.slice(2);
        const type = CHANGES[kind ?? ""];
        if (!type) continue;
        const event = {
          type,
          path: p,
          name: path.posix.relative(dir, p),
          isDir: record[1] === "1",
        };
        if (!line(event))
          await new Promise((r) => {
            res.once("drain", r);
            res.once("close", r);
          });
      }
    }
    if (!res.destroyed) throw new Error("the watch's helper process ended unexpectedly");
  } catch (err) {
    stop();
    if (!ready) throw err;
    const code = err instanceof AgentError ? err.code : "internal";
    line({ type: "error", code, message: err instanceof Error ? err.message : String(err) });
    res.end();
  }
}
