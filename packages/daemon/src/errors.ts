import type { ErrorCode } from "@paddock/protocol";

/** A failure with a stable code; the API turns it into `{ error: { code, message, details } }`. */
export class PaddockError extends Error {
  /**
   * Details about the host (a sandbox's log, the runtime's own error, host paths): shown to the
   * admin token among the details, never to an API key (the daemon's log has them instead).
   */
  readonly hostDetails?: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown; hostDetails?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = "PaddockError";
    if (options?.hostDetails) this.hostDetails = options.hostDetails;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
