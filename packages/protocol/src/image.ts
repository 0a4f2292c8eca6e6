import { z } from "zod";
import { ErrorCodeSchema } from "./errors.js";
import { ImageNameSchema } from "./sandbox.js";

export const BUILTIN_IMAGES = ["busybox", "debian", "docker"] as const;

export const ImageSchema = z.object({
  name: z.string(),
  source: z.enum(["builtin", "imported"]),
  /** False for a built-in image that has not been built yet. */
  ready: z.boolean(),
  createdAt: z.string().nullable(),
});
export type ImageInfo = z.infer<typeof ImageSchema>;

export const ImageListSchema = z.object({ images: z.array(ImageSchema) });

export const ImageNameParamsSchema = z.strictObject({ name: ImageNameSchema });

/** One line of the NDJSON stream of an image build. */
export const ImageProgressSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("progress"), message: z.string() }),
  z.object({ type: z.literal("done"), image: ImageSchema }),
  z.object({
    type: z.literal("error"),
    error: z.object({ code: ErrorCodeSchema, message: z.string() }),
  }),
]);
export type ImageProgress = z.infer<typeof ImageProgressSchema>;
