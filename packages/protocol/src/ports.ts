import { z } from "zod";

export const ExposePortRequestSchema = z.strictObject({
  /** The port inside the sandbox (on its own loopback). */
  port: z.number().int().min(1).max(65535),
  /** The host port; left out (or 0), a free one is picked. */
  hostPort: z.number().int().min(0).max(65535).optional(),
  /**
   * Require a per-port token on HTTP requests (header `x-paddock-port-token` or query parameter
   * `paddock_token`). On by default, except on a loopback bind address of a daemon that has
   * never had an API key.
   */
  auth: z.boolean().optional(),
});
export type ExposePortRequest = z.input<typeof ExposePortRequestSchema>;

export const ExposedPortSchema = z.object({
  port: z.number(),
  hostPort: z.number(),
  bindAddress: z.string(),
  url: z.string(),
  /** The access token, when the port requires one. */
  token: z.string().nullable(),
  createdAt: z.string(),
});
export type ExposedPort = z.infer<typeof ExposedPortSchema>;
export const ExposedPortListSchema = z.object({ ports: z.array(ExposedPortSchema) });

export const PortParamsSchema = z.strictObject({
  id: z.string().regex(/^sb_[a-z0-9]{1,32}$/, "sandbox ids look like sb_…"),
  port: z.coerce.number().int().min(1).max(65535),
});

export const WaitForPortQuerySchema = z.strictObject({
  port: z.coerce.number().int().min(1).max(65535),
  timeoutMs: z.coerce.number().int().min(1).max(600_000).default(30_000),
});

/** The header, and the query parameter, that carry a port's access token. */
export const PORT_TOKEN_HEADER = "x-paddock-port-token";
export const PORT_TOKEN_QUERY = "paddock_token";

/** The agent's answer to `GET /ports/wait` (and the API's): something accepts on the port. */
export const PortWaitAnswerSchema = z.object({ port: z.number(), ready: z.boolean() });
export type PortWaitAnswer = z.infer<typeof PortWaitAnswerSchema>;
