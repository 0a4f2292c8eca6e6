"""Local files, shared by the sync and async clients (local disk I/O is done in place, in
chunks, in both): sources to upload, atomic writes, safe extraction of sandbox archives."""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tarfile
from dataclasses import dataclass
from typing import IO, Iterable, Iterator, Union

from . import _tar
from .errors import InvalidResponseError, PaddockError, local_error

#: A local file path, bytes, a binary file object, or an iterable of byte chunks.
UploadSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Iterable[bytes]]

#: Local files are read and sent in pieces of this size (1 MiB, as the TypeScript SDK reads).
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BatchUpload:
    """One file of ``upload_files``: a sandbox path and a local path or bytes."""

    path: str
    source: Union[str, "os.PathLike[str]", bytes]
    mode: int | None = None


def local_file_error(path: str, err: OSError) -> PaddockError:
    """A local file that cannot be read, as the caller's bad argument."""
    why = {errno.ENOENT: "there is no such file", errno.EACCES: "permission denied"}.get(
        err.errno or 0, err.strerror or str(err)
    )
    return local_error(
        "invalid_request", f"cannot read the local file {path}: {why}", {"localPath": path}
    )


def local_write_error(path: str, err: OSError) -> PaddockError:
    """A local write that failed, classified once as the TypeScript SDK does."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        code = "insufficient_storage"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        code = "permission_denied"
    else:
        code = "invalid_request"
    return local_error(
        code, f"cannot write the local path {path}: {err.strerror or err}", {"localPath": path}
    )


def check_path(path: str, what: str = "path") -> str:
    """A sandbox path, checked as the daemon would before it goes into a URL."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise local_error(
            "invalid_request",
            f"invalid request: {what}: paths in the sandbox are absolute (start with /) and have no NUL, got {path!r}",
        )
    return path


def open_local(path: str) -> tuple[IO[bytes], int]:
    """Opens a local regular file to upload; missing, not a file, unreadable: InvalidRequestError."""
    try:
        # stat first: opening a FIFO to find out what it is would wait for a writer.
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise local_error("invalid_request", f"{path} is not a regular file", {"localPath": path})
        return open(path, "rb"), st.st_size
    except OSError as err:
        raise local_file_error(path, err) from err


def source_chunks(source: UploadSource) -> tuple[Iterator[bytes], int | None]:
    """The chunks of what is to be uploaded and its size when known; never read whole."""
    if isinstance(source, (str, os.PathLike)):
        file, size = open_local(os.fspath(source))
        return _read_closing(file), size
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return iter([data] if data else []), len(data)
    if hasattr(source, "read"):
        return _read_open(source), None  # type: ignore[arg-type]
    return (bytes(c) for c in source), None


def _read_closing(file: IO[bytes]) -> Iterator[bytes]:
    with file:
        yield from _read_open(file)


def _read_open(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(CHUNK):
        yield chunk


#: An archive entry to send: its name, a local path or bytes, and its mode (None: the file's).
PackEntry = tuple[str, Union[str, bytes], Union[int, None]]


def pack_entries(entries: Iterable[PackEntry]) -> Iterator[bytes]:
    """A tar stream of entries, produced as it is read. A local directory or symlink goes in as
    one; a file is streamed."""
    for name, source, mode in entries:
        if isinstance(source, bytes):
            yield _tar.header(name, size=len(source), mode=0o644 if mode is None else mode)
            yield source
            yield _tar.padding(len(source))
            continue
        try:
            st = os.lstat(source)
            if stat.S_ISDIR(st.st_mode):
                yield _tar.header(name, kind=tarfile.DIRTYPE, mode=mode if mode is not None else st.st_mode & 0o7777)
            elif stat.S_ISLNK(st.st_mode):
                yield _tar.header(name, kind=tarfile.SYMTYPE, linkname=os.readlink(source))
            elif stat.S_ISREG(st.st_mode):
                with open(source, "rb") as f:
                    yield _tar.header(name, size=st.st_size, mode=mode if mode is not None else st.st_mode & 0o7777)
                    sent = 0
                    while sent < st.st_size and (chunk := f.read(min(CHUNK, st.st_size - sent))):
                        sent += len(chunk)
                        yield chunk
                    if sent != st.st_size:
                        raise local_error("invalid_request", f"the local file {source} shrank while it was uploaded", {"localPath": source})
                    yield _tar.padding(st.st_size)
        except OSError as err:
            raise local_file_error(source, err) from err
    yield _tar.END_OF_ARCHIVE


def walk_local(root: str, rel: str = "") -> Iterator[PackEntry]:
    """Every path under a local directory, depth first, sorted; symlinks are not followed."""
    for name in sorted(os.listdir(os.path.join(root, rel))):
        child = f"{rel}/{name}" if rel else name
        full = os.path.join(root, child)
        yield child, full, None
        if os.path.isdir(full) and not os.path.islink(full):
            yield from walk_local(root, child)


def check_local_dir(path: str) -> None:
    """A local directory to read from or write into: there, and a directory."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise local_file_error(path, err) from err
    if not stat.S_ISDIR(st.st_mode):
        raise local_error("invalid_request", f"{path} is not a directory", {"localPath": path})


class AtomicFile:
    """A local file written to a temporary sibling and renamed into place on ``commit``."""

    def __init__(self, target: str, mode: int = 0o644) -> None:
        self.target = target
        self.tmp = os.path.join(os.path.dirname(target) or ".", f".paddock-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as err:
            raise local_write_error(target, err) from err
        self.file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as err:
            raise local_write_error(self.target, err) from err

    def commit(self) -> None:
        try:
            self.file.close()
            os.replace(self.tmp, self.target)
        except OSError as err:
            self.discard()
            raise local_write_error(self.target, err) from err

    def discard(self) -> None:
        self.file.close()
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


class Extractor:
    """Unpacks a tar stream from a sandbox into a local directory, safely: an entry that would
    land outside it, or go through a symlink on the way, is refused (InvalidResponseError)."""

    def __init__(self, root: str) -> None:
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as err:
            raise local_write_error(root, err) from err
        self.root = os.path.realpath(root)
        self.reader = _tar.TarReader()
        self.count = 0
        self._file: AtomicFile | None = None

    def feed(self, chunk: bytes) -> None:
        try:
            for event in self.reader.feed(chunk):
                self._apply(event)
        except _tar.TarFormatError as err:
            self.discard()
            raise InvalidResponseError("invalid_response", f"the archive is not a tar stream: {err}", 200) from err
        except BaseException:
            self.discard()
            raise

    def finish(self) -> int:
        try:
            self.reader.finish()
        except _tar.TarFormatError as err:
            self.discard()
            raise InvalidResponseError("invalid_response", f"the archive is not a whole tar stream ({err}): was it cut short?", 200) from err
        return self.count

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()
            self._file = None

    def _apply(self, event: _tar.Event) -> None:
        if isinstance(event, _tar.Data):
            if self._file is not None:
                self._file.write(event.data)
            return
        if isinstance(event, _tar.EntryEnd):
            if self._file is not None:
                self._file.commit()
                self._file = None
            return
        target = self._safe(event.name)
        try:
            if event.kind == "dir":
                os.makedirs(target, mode=event.mode & 0o777, exist_ok=True)
            elif event.kind == "symlink":
                if os.path.lexists(target):
                    os.unlink(target)
                os.symlink(event.linkname, target)
            elif event.kind == "file":
                os.makedirs(os.path.dirname(target), exist_ok=True)
                self._file = AtomicFile(target, event.mode & 0o777)
            else:
                return
        except OSError as err:
            raise local_write_error(target, err) from err
        self.count += 1

    def _safe(self, name: str) -> str:
        target = os.path.normpath(os.path.join(self.root, name))
        if target != self.root and not target.startswith(self.root + os.sep):
            raise InvalidResponseError("invalid_response", f"archive entry {name} points outside {self.root}", 200, {"entry": name})
        current = self.root
        for part in os.path.relpath(os.path.dirname(target), self.root).split(os.sep):
            if part in ("", "."):
                continue
            current = os.path.join(current, part)
            if os.path.islink(current):
                raise InvalidResponseError("invalid_response", f"archive entry {name} goes through the symlink {current}", 200, {"entry": name})
        return target
