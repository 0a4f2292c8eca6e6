import { z } from "zod";

export const HealthSchema = z.object({
  status: z.literal("ok"),
  version: z.string(),
  /** How many times this sandbox's agent has been started (more than 1: it died and came back). */
  agentStarts: z.number().int().positive().optional(),
});
export type Health = z.infer<typeof HealthSchema>;
