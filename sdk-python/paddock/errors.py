"""Errors raised by the SDK: one class per stable error code of the daemon.

Branch on the class or on ``code`` (stable across versions), not on the message. The registry
of codes is packages/protocol/src/codes.ts; tests/test_errors.py fails when this module and it
drift apart.

Example::

    try:
        sb.fs.stat_file("/nope")
    except paddock.FileNotFoundInSandboxError as err:
        print(err.code, err.status, err)  # file_not_found 404 ...
"""

from __future__ import annotations

from typing import Any, Final, Mapping

#: Each code's one HTTP status, as packages/protocol/src/codes.ts has it.
ERROR_STATUS: Final[Mapping[str, int]] = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "sandbox_not_found": 404,
    "image_not_found": 404,
    "snapshot_not_found": 404,
    "route_not_found": 404,
    "file_not_found": 404,
    "command_not_found": 404,
    "process_not_found": 404,
    "permission_denied": 403,
    "conflict": 409,
    "sandbox_not_running": 409,
    "sandbox_paused": 409,
    "image_in_use": 409,
    "image_exists": 409,
    "payload_too_large": 413,
    "resource_exhausted": 429,
    "image_build_failed": 500,
    "registry_unreachable": 502,
    "registry_auth_failed": 403,
    "image_platform_unavailable": 404,
    "image_corrupt": 502,
    "image_pull_failed": 502,
    "runtime_error": 500,
    "internal": 500,
    "agent_error": 502,
    "agent_unavailable": 503,
    "timeout": 504,
    "insufficient_storage": 507,
}


class PaddockError(Exception):
    """Base of every error the SDK raises for a failed call.

    ``code`` is the daemon's stable code (or ``network_error`` / ``invalid_response`` for
    failures seen on this side), ``status`` its HTTP status (0 when there was no answer),
    ``details`` what the daemon added. The message is the daemon's.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details: Mapping[str, Any] = details or {}


class InvalidRequestError(PaddockError): ...
class UnauthorizedError(PaddockError): ...
class ForbiddenError(PaddockError): ...
class NotFoundError(PaddockError): ...
class SandboxNotFoundError(NotFoundError): ...
class ImageNotFoundError(NotFoundError): ...
class SnapshotNotFoundError(NotFoundError): ...
class RouteNotFoundError(NotFoundError): ...
class FileNotFoundInSandboxError(NotFoundError):
    """``file_not_found``; named apart from Python's own FileNotFoundError, which it is not."""
class CommandNotFoundError(NotFoundError): ...
class ProcessNotFoundError(NotFoundError): ...
class PermissionDeniedError(PaddockError): ...
class ConflictError(PaddockError): ...
class SandboxNotRunningError(ConflictError): ...
class SandboxPausedError(ConflictError):
    """The sandbox is paused and was not created with auto_resume: resume it first."""
class ImageInUseError(ConflictError): ...
class ImageExistsError(ConflictError): ...
class PayloadTooLargeError(PaddockError): ...
class ResourceExhaustedError(PaddockError):
    """A sandbox limit (processes, memory) is reached."""
class ImageBuildFailedError(PaddockError): ...
class RegistryUnreachableError(PaddockError): ...
class RegistryAuthFailedError(PaddockError): ...
class ImagePlatformUnavailableError(NotFoundError): ...
class ImageCorruptError(PaddockError): ...
class ImagePullFailedError(PaddockError): ...
class SandboxRuntimeError(PaddockError):
    """``runtime_error``: runc or runsc failed; named apart from Python's RuntimeError."""
class InternalError(PaddockError): ...
class AgentError(PaddockError):
    """The sandbox's agent answered something that is not its protocol."""
class AgentUnavailableError(PaddockError): ...
class DeadlineError(PaddockError):
    """``timeout``: named apart from Python's TimeoutError (a process's own timeout is a result)."""
class InsufficientStorageError(PaddockError): ...
class NetworkError(PaddockError):
    """The daemon could not be reached, or the connection was cut before its answer ended."""
class InvalidResponseError(PaddockError):
    """The daemon answered something that is not Paddock's protocol."""


#: One class per code; tests/test_errors.py checks it against the protocol's registry.
ERROR_CLASSES: Final[Mapping[str, type[PaddockError]]] = {
    "invalid_request": InvalidRequestError,
    "unauthorized": UnauthorizedError,
    "forbidden": ForbiddenError,
    "not_found": NotFoundError,
    "sandbox_not_found": SandboxNotFoundError,
    "snapshot_not_found": SnapshotNotFoundError,
    "image_not_found": ImageNotFoundError,
    "route_not_found": RouteNotFoundError,
    "file_not_found": FileNotFoundInSandboxError,
    "command_not_found": CommandNotFoundError,
    "process_not_found": ProcessNotFoundError,
    "permission_denied": PermissionDeniedError,
    "conflict": ConflictError,
    "sandbox_not_running": SandboxNotRunningError,
    "sandbox_paused": SandboxPausedError,
    "image_in_use": ImageInUseError,
    "image_exists": ImageExistsError,
    "payload_too_large": PayloadTooLargeError,
    "resource_exhausted": ResourceExhaustedError,
    "image_build_failed": ImageBuildFailedError,
    "registry_unreachable": RegistryUnreachableError,
    "registry_auth_failed": RegistryAuthFailedError,
    "image_platform_unavailable": ImagePlatformUnavailableError,
    "image_corrupt": ImageCorruptError,
    "image_pull_failed": ImagePullFailedError,
    "runtime_error": SandboxRuntimeError,
    "internal": InternalError,
    "agent_error": AgentError,
    "agent_unavailable": AgentUnavailableError,
    "timeout": DeadlineError,
    "insufficient_storage": InsufficientStorageError,
}


def local_error(code: str, message: str, details: Mapping[str, Any] | None = None) -> PaddockError:
    """An error raised here, with the status the daemon gives the same code, so a caller
    branches alike on an argument refused here and one refused by the daemon."""
    return ERROR_CLASSES[code](code, message, ERROR_STATUS[code], details)


def error_from_body(status: int, body: object) -> PaddockError:
    """The typed error for an error answer ``{"error": {"code", "message", "details"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message, details = error.get("code"), error.get("message"), error.get("details")
        if isinstance(code, str) and code in ERROR_CLASSES and isinstance(message, str):
            return ERROR_CLASSES[code](
                code, message, status, details if isinstance(details, dict) else None
            )
    return InvalidResponseError(
        "invalid_response", f"the daemon answered {status} without a Paddock error body", status
    )


def cut_error(what: str, cause: BaseException, *, from_sandbox: bool) -> PaddockError:
    """A stream cut under its reader: ``agent_unavailable`` for what comes out of a sandbox
    (its end cuts it), else ``network_error``."""
    if isinstance(cause, PaddockError):
        return cause
    if from_sandbox:
        return AgentUnavailableError(
            "agent_unavailable",
            f"{what} was cut before its end ({cause}); did the sandbox or the daemon end?",
            ERROR_STATUS["agent_unavailable"],
        )
    return NetworkError("network_error", f"{what} was cut before its end ({cause}); did the daemon end?", 0)
