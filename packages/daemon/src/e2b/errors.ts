import { ConnectError, type ConnectCode } from "./connect.js";
import { PaddockApiError } from "./daemon-client.js";

/**
 * Paddock's error codes as E2B's SDK reads them. Its REST client looks at the status only (401
 * AuthenticationError, 404 NotFoundError or SandboxNotFoundError, 409 on pause "already paused");
 * its envd client at the Connect code (not_found NotFoundError or FileNotFoundError,
 * invalid_argument InvalidArgumentError, unauthenticated AuthenticationError, unavailable and
 * deadline_exceeded TimeoutError, already_exists on makeDir "it was there").
 */
const CONNECT_CODES: Record<string, ConnectCode> = {
  invalid_request: "invalid_argument",
  unauthorized: "unauthenticated",
  forbidden: "permission_denied",
  permission_denied: "permission_denied",
  not_found: "not_found",
  file_not_found: "not_found",
  process_not_found: "not_found",
  command_not_found: "not_found",
  // A sandbox that is gone or not running: E2B's SDK reports that as a timed-out sandbox.
  sandbox_not_found: "unavailable",
  sandbox_not_running: "unavailable",
  agent_unavailable: "unavailable",
  file_exists: "already_exists",
  conflict: "failed_precondition",
  payload_too_large: "resource_exhausted",
  resource_exhausted: "resource_exhausted",
  insufficient_storage: "resource_exhausted",
  timeout: "deadline_exceeded",
};

/** Any failure as a Connect error for the envd routes. */
export function toConnectError(err: unknown): unknown {
  if (err instanceof ConnectError) return err;
  if (err instanceof PaddockApiError) {
    const code =
      CONNECT_CODES[err.code] ?? (err.status >= 500 ? "internal" : "failed_precondition");
    return new ConnectError(code, err.message);
  }
  if (err instanceof Error && err.name === "AbortError")
    return new ConnectError("canceled", err.message);
  return err;
}

/** The HTTP status and E2B error body (`{code, message}`) for the REST and /files routes. */
export function toRestError(err: unknown): {
  status: number;
  body: { code: number; message: string };
} {
  if (err instanceof PaddockApiError) {
    // 409 on a not-running sandbox is what E2B answers for "already paused" and the like.
    return { status: err.status, body: { code: err.status, message: err.message } };
  }
  if (err instanceof RestError)
    return { status: err.status, body: { code: err.status, message: err.message } };
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: { code: 500, message } };
}

/** A refusal made by the E2B layer itself (bad input, no key, something Paddock cannot do). */
export class RestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
