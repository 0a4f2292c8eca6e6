import { z } from "zod";
import { ERROR_CODES, ERROR_STATUS, WatchEventSchema, type WatchChange } from "@paddock/protocol";
import { keepaliveMs, withKeepalive } from "./connect.js";
import { DaemonClient, PaddockApiError } from "./daemon-client.js";
import { resolvePath, type EnvdCall } from "./envd-call.js";
import { ndjsonEvents } from "./event-stream.js";
import { entryInfo, stat } from "./filesystem-service.js";
import { parseMessage } from "./process-service.js";

/*
 * envd's Filesystem/WatchDir (the JS SDK's files.watchDir) on Paddock's watch API. envd's
 * polling trio (CreateWatcher, GetWatcherEvents, RemoveWatcher) is left out: the JS SDK does not
 * use it.
 */

const WatchDirRequest = z.object({
  path: z.string(),
  recursive: z.boolean().default(false),
  includeEntry: z.boolean().default(false),
  allowNetworkMounts: z.boolean().default(false),
});

const EVENT_TYPES: Record<WatchChange, string> = {
  create: "EVENT_TYPE_CREATE",
  write: "EVENT_TYPE_WRITE",
  remove: "EVENT_TYPE_REMOVE",
  rename: "EVENT_TYPE_RENAME",
  chmod: "EVENT_TYPE_CHMOD",
};

/** WatchDirResponse messages: start once the watch is in place, then filesystem events. */
export async function* watchDir(message: unknown, call: EnvdCall): AsyncGenerator<unknown> {
  const req = parseMessage(WatchDirRequest, message, "WatchDirRequest");
  const path = resolvePath(req.path, call.user);
  const res = await call.client.send("GET", DaemonClient.sandbox(call.sandboxId, "/files/watch"), {
    query: { path, recursive: req.recursive },
    signal: call.signal,
  });
  const events = ndjsonEvents(
    res,
    WatchEventSchema,
    ["end", "error"],
    "the watch ended early (did the sandbox end?)",
  );
  try {
    for await (const event of withKeepalive(events, keepaliveMs(call.headers), null)) {
      if (event === null) yield { keepalive: {} };
      else if (event.type === "ready") yield { start: {} };
      else if (event.type === "error") {
        const code = ERROR_CODES.find((c) => c === event.code) ?? "internal";
        throw new PaddockApiError(ERROR_STATUS[code], code, event.message);
      } else if (event.type !== "overflow" && event.type !== "end") {
        // An entry that is gone again by now is left out, as envd does.
        const entry =
          req.includeEntry && event.type !== "remove" && event.type !== "rename"
            ? await stat(call, event.path).catch(() => undefined)
            : undefined;
        yield {
          filesystem: {
            name: event.name,
            type: EVENT_TYPES[event.type],
            ...(entry ? { entry: entryInfo(entry) } : {}),
          },
        };
      }
    }
  } finally {
    res.destroy();
  }
}
