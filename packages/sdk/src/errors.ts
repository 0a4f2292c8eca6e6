import { ErrorBodySchema, type ErrorCode } from "@paddock/protocol";

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
export class RouteNotFoundError extends NotFoundError {}
export class FileNotFoundError extends NotFoundError {}
export class CommandNotFoundError extends NotFoundError {}
export class ProcessNotFoundError extends NotFoundError {}
export class PermissionDeniedError extends PaddockError {}
export class ConflictError extends PaddockError {}
export class SandboxNotRunningError extends ConflictError {}
export class ImageInUseError extends ConflictError {}
export class ImageExistsError extends ConflictError {}
export class PayloadTooLargeError extends PaddockError {}
/** A sandbox limit (processes, memory) is reached. */
export class ResourceExhaustedError extends PaddockError {}
export class ImageBuildFailedError extends PaddockError {}
export class RuntimeError extends PaddockError {}
export class InternalError extends PaddockError {}
export class AgentUnavailableError extends PaddockError {}
export class TimeoutError extends PaddockError {}
export class InsufficientStorageError extends PaddockError {}
/** The daemon could not be reached at all. */
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
  image_not_found: ImageNotFoundError,
  route_not_found: RouteNotFoundError,
  file_not_found: FileNotFoundError,
  command_not_found: CommandNotFoundError,
  process_not_found: ProcessNotFoundError,
  permission_denied: PermissionDeniedError,
  conflict: ConflictError,
  sandbox_not_running: SandboxNotRunningError,
  image_in_use: ImageInUseError,
  image_exists: ImageExistsError,
  payload_too_large: PayloadTooLargeError,
  resource_exhausted: ResourceExhaustedError,
  image_build_failed: ImageBuildFailedError,
  runtime_error: RuntimeError,
  internal: InternalError,
  agent_unavailable: AgentUnavailableError,
  timeout: TimeoutError,
  insufficient_storage: InsufficientStorageError,
};

export function isPaddockError(err: unknown): err is PaddockError {
  return (
    typeof err === "object" &&
    err !== null &&
    (err as { isPaddockError?: unknown }).isPaddockError === true
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
