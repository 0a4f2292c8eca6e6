import type { ErrorCode } from "@paddock/protocol";

/** A failure with a stable code; the API turns it into `{ error: { code, message, details } }`. */
export class PaddockError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "PaddockError";
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
