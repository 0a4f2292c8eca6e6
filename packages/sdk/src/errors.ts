import { ERROR_STATUS, ErrorBodySchema, type ErrorCode } from "@paddock/protocol";
import type { z } from "zod";

/**
 * Base of every error the SDK throws for a failed API call. `code` is stable across versions;
 * branch on it (or on the subclass), not on the message.
 */
export class PaddockError extends Error {
  /** Lets `isPaddockError` work across two installed copies of the SDK. */
  readonly isPaddockError = true;

  constructor(
    readonly code: ErrorCode | "network_error" | "invalid_response",
    message: string,
    readonly status: number,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidRequestError extends PaddockError {}
export class UnauthorizedError extends PaddockError {}
export class ForbiddenError extends PaddockError {}
export class NotFoundError extends PaddockError {}
export class SandboxNotFoundError extends NotFoundError {}
export class ImageNotFoundError extends NotFoundError {}
export class SnapshotNotFoundError extends NotFoundError {}
export class RouteNotFoundError extends NotFoundError {}
export class FileNotFoundError extends NotFoundError {}
export class CommandNotFoundError extends NotFoundError {}
export class ProcessNotFoundError extends NotFoundError {}
export class PermissionDeniedError extends PaddockError {}
export class ConflictError extends PaddockError {}
export class SandboxNotRunningError extends ConflictError {}
/** The sandbox is paused and was not created with autoResume: `sandbox.resume()` first. */
export class SandboxPausedError extends ConflictError {}
export class ImageInUseError extends ConflictError {}
export class ImageExistsError extends ConflictError {}
export class PayloadTooLargeError extends PaddockError {}
/** A sandbox limit (processes, memory) is reached. */
export class ResourceExhaustedError extends PaddockError {}
export class ImageBuildFailedError extends PaddockError {}
/** A registry cannot be reached (down, wrong host, or plain HTTP not allowed by the daemon). */
export class RegistryUnreachableError extends PaddockError {}
/** A registry refused the credentials (or wants some): `paddock registry login HOST`. */
export class RegistryAuthFailedError extends PaddockError {}
/** The image has no manifest for the platform asked; `details.platforms` lists those it has. */
export class ImagePlatformUnavailableError extends NotFoundError {}
/** A pulled layer or manifest does not match its digest. */
export class ImageCorruptError extends PaddockError {}
export class ImagePullFailedError extends PaddockError {}
export class RuntimeError extends PaddockError {}
export class InternalError extends PaddockError {}
/** The sandbox's agent answered something that is not its protocol. */
export class AgentError extends PaddockError {}
export class AgentUnavailableError extends PaddockError {}
export class TimeoutError extends PaddockError {}
export class InsufficientStorageError extends PaddockError {}
/** The daemon could not be reached, or the connection to it was cut before its answer ended. */
export class NetworkError extends PaddockError {}
/** The daemon answered with something that is not Paddock's protocol. */
export class InvalidResponseError extends PaddockError {}

type ErrorClass = new (...args: ConstructorParameters<typeof PaddockError>) => PaddockError;

/** One class per code; the compiler rejects a code without one. */
export const ERROR_CLASSES: Record<ErrorCode, ErrorClass> = {
  invalid_request: InvalidRequestError,
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  not_found: NotFoundError,
  sandbox_not_found: SandboxNotFoundError,
  snapshot_not_found: SnapshotNotFoundError,
  image_not_found: ImageNotFoundError,
  route_not_found: RouteNotFoundError,
  file_not_found: FileNotFoundError,
  command_not_found: CommandNotFoundError,
  process_not_found: ProcessNotFoundError,
  permission_denied: PermissionDeniedError,
  conflict: ConflictError,
  sandbox_not_running: SandboxNotRunningError,
  sandbox_paused: SandboxPausedError,
  image_in_use: ImageInUseError,
  image_exists: ImageExistsError,
  payload_too_large: PayloadTooLargeError,
  resource_exhausted: ResourceExhaustedError,
  image_build_failed: ImageBuildFailedError,
  registry_unreachable: RegistryUnreachableError,
  registry_auth_failed: RegistryAuthFailedError,
  image_platform_unavailable: ImagePlatformUnavailableError,
  image_corrupt: ImageCorruptError,
  image_pull_failed: ImagePullFailedError,
  runtime_error: RuntimeError,
  internal: InternalError,
  agent_error: AgentError,
  agent_unavailable: AgentUnavailableError,
  timeout: TimeoutError,
  insufficient_storage: InsufficientStorageError,
};

export function isPaddockError(err: unknown): err is PaddockError {
  return (
    typeof err === "object" &&
    err !== null &&
    "isPaddockError" in err &&
    err.isPaddockError === true
  );
}

/** Turns an error response into the matching typed error. */
export function errorFromResponse(status: number, body: unknown): PaddockError {
  const parsed = ErrorBodySchema.safeParse(body);
  if (!parsed.success) {
    return new InvalidResponseError(
      "invalid_response",
      `the daemon answered ${status} without a Paddock error body`,
      status,
    );
  }
  const { code, message, details } = parsed.data.error;
  return new ERROR_CLASSES[code](code, message, status, details);
}

/**
 * An error the SDK raises itself, with the status the daemon would give the same code, so a
 * caller branches alike on an argument refused here and one refused by the daemon.
 */
export function localError(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  cause?: unknown,
): PaddockError {
  return new ERROR_CLASSES[code](
    code,
    message,
    ERROR_STATUS[code],
    details,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Checks an argument against the protocol's schema for it before anything is sent; the message
 * has the daemon's shape (`invalid request: path: ...`). Returns the parsed value.
 */
export function checkArgument<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map(
    (issue) => `${[what, ...issue.path.map(String)].join(".")}: ${issue.message}`,
  );
  throw localError("invalid_request", `invalid request: ${issues.join("; ")}`, { issues });
}

/** How a response body cut under its reader is reported. */
export type CutCode = "agent_unavailable" | "network_error";

/**
 * Classifies a failure met while reading a response body. A PaddockError passes as it is, and so
 * does the failure of a request the caller aborted (the abort is theirs); anything else (a reset,
 * a socket closed mid-body, undici's "terminated") is the connection cut under the reader:
 * `agent_unavailable` for what comes out of a sandbox (its end cuts it), else `network_error`.
 */
export function cutError(
  caught: unknown,
  what: string,
  code: CutCode,
  signal?: AbortSignal,
): unknown {
  if (isPaddockError(caught) || signal?.aborted) return caught;
  const reason = describeCause(caught);
  if (code === "agent_unavailable") {
    return new AgentUnavailableError(
      code,
      `${what} was cut before its end (${reason}); did the sandbox or the daemon end?`,
      ERROR_STATUS.agent_unavailable,
      undefined,
      { cause: caught },
    );
  }
  return new NetworkError(
    code,
    `${what} was cut before its end (${reason}); did the daemon end?`,
    0,
    undefined,
    { cause: caught },
  );
}

/** An error's message, with its cause's when it has one ("terminated: other side closed"). */
export function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

/** A Node system error's code (ENOENT, ECONNRESET), if it has one. */
export function errnoOf(err: unknown): string | undefined {
  return err instanceof Error && "code" in err && typeof err.code === "string"
    ? err.code
    : undefined;
}
