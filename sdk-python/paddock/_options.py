"""The options a process, a terminal and a code context share, as the daemon's JSON body spells them."""

from __future__ import annotations

from typing import Any, Mapping

from .errors import local_error


def run_options(
    what: str,
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    user: str | int | None = None,
    timeout: float | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    """The given options only (the daemon's defaults stand for the rest); `what` names the call in errors."""
    body: dict[str, Any] = {}
    if cwd is not None:
        body["cwd"] = cwd
    if env is not None:
        body["env"] = dict(env)
    if user is not None:
        body["user"] = user
    if timeout is not None:
        if timeout <= 0:
            raise local_error("invalid_request", f"invalid request: {what}.timeout: must be more than 0 seconds")
        body["timeoutMs"] = max(1, round(timeout * 1000))
    if tag is not None:
        body["tag"] = tag
    return body
