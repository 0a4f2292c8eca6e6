/**
 * Every error Paddock returns carries one of these codes. The map gives each code its one HTTP
 * status; `satisfies` makes the compiler reject a code without a status.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  sandbox_not_found: 404,
  image_not_found: 404,
  snapshot_not_found: 404,
  route_not_found: 404,
  file_not_found: 404,
  command_not_found: 404,
  process_not_found: 404,
  permission_denied: 403,
  conflict: 409,
  sandbox_not_running: 409,
  /** The sandbox is paused (and was not created with autoResume): resume it first. */
  sandbox_paused: 409,
  image_in_use: 409,
  image_exists: 409,
  payload_too_large: 413,
  resource_exhausted: 429,
  image_build_failed: 500,
  /** A registry: its host cannot be reached (or speaks plain HTTP without --insecure-registry). */
  registry_unreachable: 502,
  /** A registry refused the stored credentials, or asks for some and there are none. */
  registry_auth_failed: 403,
  /** The image exists, but not for the platform asked (linux/amd64 unless another is named). */
  image_platform_unavailable: 404,
  /** A layer or manifest from a registry does not match its digest. */
  image_corrupt: 502,
  /** A pull failed for a reason none of the codes above names. */
  image_pull_failed: 502,
  runtime_error: 500,
  internal: 500,
  /** The sandbox's agent answered something that is not its protocol (malformed, too large). */
  agent_error: 502,
  agent_unavailable: 503,
  timeout: 504,
  insufficient_storage: 507,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export function statusForCode(code: ErrorCode): number {
  return ERROR_STATUS[code];
}
