"""Paddock's Python SDK: sandboxes (gVisor or runc) with files, processes and Docker inside.

Synchronous::

    from paddock import Sandbox

    with Sandbox.create(runtime="runsc") as sb:
        sb.fs.upload_file("./data.csv", "/work/data.csv")
        print(sb.fs.stat_file("/work/data.csv").size)
        print(sb.process.exec("cat", "/work/data.csv").output().stdout)

Asynchronous, with the same methods::

    from paddock import AsyncSandbox

    async with await AsyncSandbox.create() as sb:
        proc = await sb.process.exec("ls", "/")
        async for line in proc.stdout.lines():
            print(line)

Connection settings: the ``url`` and ``token`` arguments, else PADDOCK_URL and PADDOCK_TOKEN,
else the token file in PADDOCK_DATA_DIR (default /var/lib/paddock), as the TypeScript SDK.
"""

from ._async.admin import AsyncImages, AsyncKeys
from ._async.code import AsyncCodeInterpreter
from ._async.docker import AsyncDocker
from ._async.filesystem import AsyncFilesystem
from ._async.output import AsyncOutputStream
from ._async.process import AsyncProcess, AsyncProcesses
from ._async.sandbox import AsyncSandbox
from ._async.snapshots import AsyncSandboxNetworking, AsyncSnapshots
from ._async.terminal import AsyncPty, AsyncTerminal
from ._config import DEFAULT_URL
from ._local import BatchUpload
from ._sync.admin import Images, Keys
from ._sync.code import CodeInterpreter
from ._sync.docker import Docker
from ._sync.filesystem import Filesystem
from ._sync.output import OutputStream
from ._sync.process import Process, Processes
from ._sync.sandbox import Sandbox
from ._sync.snapshots import SandboxNetworking, Snapshots
from ._sync.terminal import Pty, Terminal
from .errors import *  # noqa: F403
from .errors import ERROR_CLASSES, ERROR_STATUS, PaddockError
from .types import (
    BatchResult,
    CodeContext,
    CodeError,
    CodeRunResult,
    CommandOutput,
    ComposeResult,
    CreatedKey,
    DockerLoadRefResult,
    ExposedPort,
    FileEntry,
    FindMatch,
    ImageInfo,
    KeyInfo,
    ProcessExit,
    ProcessInfo,
    ProcessOutput,
    SandboxInfo,
    SandboxNetwork,
    SnapshotInfo,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncCodeInterpreter",
    "AsyncDocker",
    "AsyncFilesystem",
    "AsyncImages",
    "AsyncKeys",
    "AsyncOutputStream",
    "AsyncProcess",
    "AsyncProcesses",
    "AsyncPty",
    "AsyncSandbox",
    "AsyncSandboxNetworking",
    "AsyncSnapshots",
    "AsyncTerminal",
    "BatchResult",
    "BatchUpload",
    "CodeContext",
    "CodeError",
    "CodeInterpreter",
    "CodeRunResult",
    "CommandOutput",
    "ComposeResult",
    "CreatedKey",
    "DEFAULT_URL",
    "Docker",
    "DockerLoadRefResult",
    "ERROR_CLASSES",
    "ERROR_STATUS",
    "ExposedPort",
    "FileEntry",
    "Filesystem",
    "FindMatch",
    "ImageInfo",
    "Images",
    "KeyInfo",
    "Keys",
    "OutputStream",
    "PaddockError",
    "Process",
    "ProcessExit",
    "ProcessInfo",
    "ProcessOutput",
    "Processes",
    "Pty",
    "Sandbox",
    "SandboxInfo",
    "SandboxNetwork",
    "SandboxNetworking",
    "SnapshotInfo",
    "Snapshots",
    "Terminal",
    *(cls.__name__ for cls in ERROR_CLASSES.values()),
    "NetworkError",
    "InvalidResponseError",
]
