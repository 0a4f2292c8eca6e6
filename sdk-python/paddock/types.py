"""What the daemon answers, as typed, frozen dataclasses with snake_case fields.

Every answer is checked against these types as it is read (``parse``): a field missing or of
the wrong type is an InvalidResponseError, never an AttributeError later on.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from .errors import InvalidResponseError

T = TypeVar("T")


#: Fields whose name on the wire is not their camelCase spelling.
_WIRE_NAMES = {"memory_mib": "memoryMiB", "disk_mib": "diskMiB"}


@dataclass(frozen=True)
class SandboxInfo:
    """A sandbox's description: ``sb.info()``."""

    id: str
    image: str
    runtime: str
    state: str
    cpu: float
    memory_mib: int
    pids_limit: int
    disk_mib: int
    oom_kills: int
    timeout_seconds: int
    labels: dict[str, str]
    created_at: str
    expires_at: str
    terminated_at: str | None
    reason: str | None
    agent_version: str | None
    docker: bool
    network: dict[str, Any] | None = None
    image_config: dict[str, Any] | None = None
    auto_resume: bool | None = None
    paused_at: str | None = None
    snapshot: str | None = None


@dataclass(frozen=True)
class FileEntry:
    """A path in a sandbox: ``sb.fs.stat_file(path)``. ``mode`` holds the permission bits."""

    name: str
    path: str
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: str
    symlink_target: str | None


@dataclass(frozen=True)
class ProcessExit:
    """How a process ended. A non-zero ``exit_code`` is a result, not an error."""

    exit_code: int | None
    signal: str | None
    timed_out: bool
    oom_killed: bool = False


@dataclass(frozen=True)
class ProcessOutput(ProcessExit):
    """A process's exit with everything it printed: ``handle.output()``."""

    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class ProcessInfo:
    """A process started through Paddock: ``sb.process.list()``."""

    pid: int
    tag: str | None
    argv: list[str]
    background: bool
    started_at: str
    running: bool
    exit: ProcessExit | None
    pty: dict[str, Any] | None = None


@dataclass(frozen=True)
class CodeContext:
    """A long-lived interpreter (python or node) that keeps its state between runs:
    ``sb.code.create_context()``. ``running`` is False once it has died (restart or close it)."""

    id: str
    language: str
    cwd: str
    pid: int
    running: bool
    exit: ProcessExit | None
    created_at: str


@dataclass(frozen=True)
class CodeError:
    """What a run's code raised: Python's exception type name or Node's error.name
    (``TimeoutError`` after a timeout), its message and traceback (or stack)."""

    name: str
    message: str
    traceback: str


@dataclass(frozen=True)
class CodeRunResult:
    """A run of ``sb.code.run``: its output, the REPL text of the last expression's value (None
    when there is none) and what it raised (a result, not an exception)."""

    context: str
    stdout: str
    stderr: str
    value: str | None
    error: CodeError | None
    timed_out: bool


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot taken with ``sb.snapshot()``: ``Snapshots().list()``."""

    id: str
    name: str | None
    kind: str
    sandbox_id: str
    runtime: str
    image: str
    size_bytes: int
    created_at: str


@dataclass(frozen=True)
class SandboxNetwork:
    """A sandbox's egress policy and its address (None with no network): ``sb.network.get()``."""

    egress: str
    allow: list[str]
    deny: list[str]
    address: str | None


@dataclass(frozen=True)
class BatchResult:
    """How one file of ``upload_files`` or ``upload_directory`` went."""

    path: str
    ok: bool
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class FindMatch:
    file: str
    line: int
    text: str


@dataclass(frozen=True)
class ExposedPort:
    """A sandbox port reachable from the host at ``url`` (with ``token`` when it needs one)."""

    port: int
    host_port: int
    bind_address: str
    url: str
    token: str | None
    created_at: str


@dataclass(frozen=True)
class CommandOutput:
    exit_code: int | None
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ComposeResult:
    project_name: str
    services: list[str]
    override_path: str | None
    warnings: list[str]
    output: str
    loaded_images: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DockerLoadRefResult:
    image: str
    digest: str
    output: str


@dataclass(frozen=True)
class KeyInfo:
    name: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class CreatedKey(KeyInfo):
    """A new key; ``key`` is its secret, shown only this once."""

    key: str = ""


@dataclass(frozen=True)
class ImageInfo:
    name: str
    source: str
    ready: bool
    created_at: str | None
    references: list[str] | None = None
    digest: str | None = None
    platform: str | None = None
    size_bytes: int | None = None
    config: dict[str, Any] | None = None


_CAMEL = re.compile(r"_([a-z])")
_hints: dict[type, dict[str, Any]] = {}


def _wire_name(f: dataclasses.Field[Any]) -> str:
    return _WIRE_NAMES.get(f.name) or _CAMEL.sub(lambda m: m.group(1).upper(), f.name)


def _bad(what: str, expected: str, value: object) -> InvalidResponseError:
    shown = repr(value)[:200]
    return InvalidResponseError(
        "invalid_response", f"unexpected answer from {what}: expected {expected}, got {shown}", 200
    )


def _check(tp: Any, value: object, what: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check(inner[0], value, what)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return parse(tp, value, what)
    if origin is list:
        if not isinstance(value, list):
            raise _bad(what, "a list", value)
        (item,) = typing.get_args(tp)
        return [_check(item, v, what) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise _bad(what, "an object", value)
        _, item = typing.get_args(tp)
        return {str(k): _check(item, v, what) for k, v in value.items()}
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise _bad(what, "a number", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _bad(what, "an integer", value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _bad(what, getattr(tp, "__name__", str(tp)), value)


def parse(cls: type[T], value: object, what: str) -> T:
    """Checks a JSON value against dataclass ``cls`` and builds it. A field the class gives a
    default may be absent (older daemons); unknown fields are ignored (newer ones)."""
    if not isinstance(value, dict):
        raise _bad(what, f"an object ({cls.__name__})", value)
    hints = _hints.get(cls)
    if hints is None:
        hints = _hints[cls] = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = _wire_name(f)
        if key not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _bad(what, f"a field {key!r} in {cls.__name__}", value)
            continue
        kwargs[f.name] = _check(hints[f.name], value[key], f"{what} ({cls.__name__}.{f.name})")
    return cls(**kwargs)
