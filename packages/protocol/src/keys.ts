import { z } from "zod";

export const KeyNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "key names are 1-63 of a-z, 0-9, '.', '_', '-'");

export const CreateKeyRequestSchema = z.strictObject({ name: KeyNameSchema });

export const KeySchema = z.object({
  name: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});
export type KeyInfo = z.infer<typeof KeySchema>;

/** The answer to creating a key: the only time its secret is shown. */
export const CreatedKeySchema = KeySchema.extend({ key: z.string() });
export const KeyListSchema = z.object({ keys: z.array(KeySchema) });
export const KeyParamsSchema = z.strictObject({ name: KeyNameSchema });
