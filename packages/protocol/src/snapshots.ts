import { z } from "zod";

/**
 * A sandbox's saved state that new sandboxes start from. `memory` (runsc without a network):
 * memory, processes and files, so processes go on running in every copy. `files` (runc): the
 * sandbox's writable filesystem only; processes start afresh.
 */
export const SNAPSHOT_KINDS = ["memory", "files"] as const;

export const SnapshotNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/,
    "snapshot names are 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
  );

export const SNAPSHOT_ID = /^snap_[a-z0-9]{1,32}$/;

export const CreateSnapshotRequestSchema = z.strictObject({
  /** Unique among the caller's snapshots; `Sandbox.create({ snapshot })` takes it or the id. */
  name: SnapshotNameSchema.optional(),
});
export type CreateSnapshotRequest = z.infer<typeof CreateSnapshotRequestSchema>;

export const SnapshotSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  kind: z.enum(SNAPSHOT_KINDS),
  /** The sandbox it was taken from (it may have ended since). */
  sandboxId: z.string(),
  runtime: z.string(),
  image: z.string(),
  /** Bytes on the daemon's disk. */
  sizeBytes: z.number(),
  createdAt: z.string(),
});
export type SnapshotInfo = z.infer<typeof SnapshotSchema>;

export const SnapshotListSchema = z.object({ snapshots: z.array(SnapshotSchema) });

/** What `snapshot` in a create request names: a snapshot's id, or its name. */
export const SnapshotRefSchema = z
  .string()
  .refine(
    (ref) => SNAPSHOT_ID.test(ref) || SnapshotNameSchema.safeParse(ref).success,
    "a snapshot is named by its id (snap_…) or its name",
  );

export const SnapshotParamsSchema = z.strictObject({ snapshot: SnapshotRefSchema });
