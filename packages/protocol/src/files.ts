import { z } from "zod";
import { ErrorBodySchema } from "./errors.js";

export const PATH_LIMITS = { length: 4096 } as const;

/**
 * A path inside the sandbox: absolute, no NUL. It is only ever resolved by the agent inside the
 * sandbox, never turned into a host path.
 */
export const SandboxPathSchema = z
  .string()
  .min(1, "path is empty")
  .max(PATH_LIMITS.length, `paths are at most ${PATH_LIMITS.length} characters`)
  .refine((p) => !p.includes("\0"), "paths cannot contain NUL")
  .refine((p) => p.startsWith("/"), "paths in the sandbox are absolute (start with /)");

/** Octal permission bits as text ("755", "0644") or a number (0o755). */
export const ModeSchema = z
  .union([
    z.string().regex(/^0?[0-7]{3,4}$/, "mode is octal, like 644 or 0755"),
    z.number().int().min(0).max(0o7777),
  ])
  .transform((m) => (typeof m === "number" ? m : parseInt(m, 8)));

const boolText = z.enum(["true", "false"]).transform((v) => v === "true");

export const FileTypeSchema = z.enum(["file", "dir", "symlink", "other"]);
export type FileType = z.infer<typeof FileTypeSchema>;

export const FileEntrySchema = z.object({
  name: z.string(),
  path: z.string(),
  type: FileTypeSchema,
  size: z.number(),
  /** Permission bits only (0o7777 mask). */
  mode: z.number(),
  uid: z.number(),
  gid: z.number(),
  mtime: z.string(),
  symlinkTarget: z.string().nullable(),
});
export type FileEntry = z.infer<typeof FileEntrySchema>;
export const FileListSchema = z.object({ entries: z.array(FileEntrySchema) });

export const PathQuerySchema = z.strictObject({ path: SandboxPathSchema });

export const WriteFileQuerySchema = z.strictObject({
  path: SandboxPathSchema,
  mode: ModeSchema.optional(),
  /** Create missing parent directories (default true). */
  parents: boolText.default(true),
});

/** The agent's side of a bulk upload (see BULK_UPLOAD_BYTES): the write, and its exact length. */
export const BulkWriteQuerySchema = WriteFileQuerySchema.extend({
  length: z.coerce.number().int().nonnegative(),
});

/**
 * What the agent sends back, as one JSON line, once a bulk upload is written or refused: the
 * written file's entry, or an error body.
 */
export const BulkWriteAnswerSchema = z.union([
  z.object({ status: z.literal(200), body: FileEntrySchema }),
  z.object({ status: z.number().int().min(400).max(599), body: ErrorBodySchema }),
]);
/** What the agent sends: BulkWriteAnswerSchema's shape, its error bodies from its error handler. */
export interface BulkWriteAnswer {
  status: number;
  body: unknown;
}

export const DeleteFileQuerySchema = z.strictObject({
  path: SandboxPathSchema,
  recursive: boolText.default(false),
});

export const MkdirQuerySchema = z.strictObject({
  path: SandboxPathSchema,
  mode: ModeSchema.optional(),
  parents: boolText.default(true),
});

export const RenameRequestSchema = z.strictObject({
  from: SandboxPathSchema,
  to: SandboxPathSchema,
});
export const ChmodRequestSchema = z.strictObject({ path: SandboxPathSchema, mode: ModeSchema });

/** One file of a batch upload and how it went. */
export const BatchResultSchema = z.object({
  path: z.string(),
  ok: z.boolean(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export const BatchResultsSchema = z.object({ results: z.array(BatchResultSchema) });
export type BatchResult = z.infer<typeof BatchResultSchema>;

export const FIND_LIMITS = {
  matches: 10_000,
  fileBytes: 16 * 1024 * 1024,
  lineLength: 1000,
} as const;

export const FindRequestSchema = z.strictObject({
  path: SandboxPathSchema,
  /** A regular expression (JavaScript syntax), matched against each line. */
  pattern: z.string().min(1).max(4096),
  /** Only files whose path relative to `path` matches this glob, e.g. "**\/*.py". */
  glob: z.string().max(1024).optional(),
  maxMatches: z.number().int().positive().max(FIND_LIMITS.matches).default(1000),
});
export const FindMatchSchema = z.object({ file: z.string(), line: z.number(), text: z.string() });
export const FindResultSchema = z.object({
  matches: z.array(FindMatchSchema),
  truncated: z.boolean(),
});
export type FindMatch = z.infer<typeof FindMatchSchema>;

export const ReplaceRequestSchema = z.strictObject({
  paths: z.array(SandboxPathSchema).min(1).max(10_000),
  pattern: z.string().min(1).max(4096),
  replacement: z.string().max(1024 * 1024),
});
export const ReplaceResultSchema = z.object({ changed: z.array(z.string()) });

/** The agent's own directory: no file operation may touch it. */
export const RESERVED_PREFIX = "/.paddock";

/** A download's size as stat saw it when it started: a hint for progress, not a length. */
export const SIZE_HINT_HEADER = "x-paddock-size";
