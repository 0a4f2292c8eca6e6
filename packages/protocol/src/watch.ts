import { z } from "zod";
import { DeleteFileQuerySchema, SandboxPathSchema } from "./files.js";

/** `GET .../files/watch?path=DIR&recursive=true|false`: DIR's changes, as they happen. */
export const WatchQuerySchema = z.strictObject({
  path: SandboxPathSchema,
  recursive: DeleteFileQuerySchema.shape.recursive,
});

/**
 * What happened to one entry. A rename is reported on the old name, then the new name comes as
 * a create (as inotify and E2B's envd report it); `chmod` is any change of attributes (mode,
 * owner, times).
 */
export const WATCH_CHANGES = ["create", "write", "remove", "rename", "chmod"] as const;
export type WatchChange = (typeof WATCH_CHANGES)[number];

/**
 * The NDJSON lines of a watch: `ready` first, once the watch is in place (a change made after
 * it is seen); then changes; `overflow` when the sandbox's kernel dropped some (a reader too
 * slow); the stream ends with `end` (the watched directory was removed or moved) or `error`.
 * Closing the stream stops the watch.
 */
export const WatchEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), path: z.string() }),
  z.object({
    type: z.enum(WATCH_CHANGES),
    /** Absolute, inside the sandbox. */
    path: z.string(),
    /** Relative to the watched directory ("sub/file.txt" under a recursive watch). */
    name: z.string(),
    isDir: z.boolean(),
  }),
  z.object({ type: z.literal("overflow") }),
  z.object({ type: z.literal("end"), reason: z.string() }),
  z.object({ type: z.literal("error"), code: z.string(), message: z.string() }),
]);
export type WatchEvent = z.infer<typeof WatchEventSchema>;
/** A change event of a watch. */
export type WatchChangeEvent = Extract<WatchEvent, { type: WatchChange }>;

/** Watches open at once in one sandbox: each is a helper process and inotify watches. */
export const WATCH_LIMITS = { perSandbox: 64 } as const;
