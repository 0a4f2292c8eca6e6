# Generated from paddock/_async by scripts/unasync.py: edit that, not this.
"""Files in a sandbox: ``sb.fs``. Every operation is done by the agent inside the sandbox, so
what is written is exactly what the sandbox's processes see, on gVisor and on runc."""

from __future__ import annotations

import os
import httpx
from typing import IO, Any, Callable, Iterable, Mapping, Union

from .._local import (
    AtomicFile,
    BatchUpload,
    Extractor,
    PackEntry,
    UploadSource,
    check_local_dir,
    check_path,
    local_file_error,
    local_write_error,
    pack_entries,
    source_chunks,
    walk_local,
)
from ..errors import InvalidResponseError, cut_error, local_error
from ..types import BatchResult, FileEntry, FindMatch
from .http import Http

READ_FILE_LIMIT = 64 * 1024 * 1024
SIZE_HINT_HEADER = "x-paddock-size"

#: Called as bytes go by, with the running total and the size when known.
Progress = Callable[[int, Union[int, None]], None]


def _mode(mode: int | None) -> str | None:
    if mode is None:
        return None
    if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
        raise local_error("invalid_request", f"invalid request: mode: permission bits from 0 to 0o7777, got {mode!r}")
    return format(mode, "o")


def _counted(chunks: Iterable[bytes], size: int | None, on_progress: Progress | None) -> Iterable[bytes]:
    return chunks if on_progress is None else _counting(chunks, size, on_progress)


def _counting(chunks: Iterable[bytes], size: int | None, report: Progress) -> Iterable[bytes]:
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        report(seen, size)
        yield chunk


class Filesystem:
    """Files in one sandbox: ``sb.fs``.

    Example::

        sb.fs.write_file("/app/main.py", "print('hi')\\n")
        out = (sb.process.exec("python3", "/app/main.py")).output()
    """

    def __init__(self, http: Http, base: str) -> None:
        self._http = http
        self._base = base

    def upload_file(
        self,
        source: UploadSource,
        remote_path: str,
        *,
        mode: int | None = None,
        create_parents: bool = True,
        on_progress: Progress | None = None,
    ) -> FileEntry:
        """Uploads one file, streamed, never read whole into memory: a local path, bytes, a
        binary file object or an iterable of chunks. It lands atomically (a reader sees the old
        file or the new one); parents are created.

        Example::

            sb.fs.upload_file("./model.bin", "/data/model.bin")
            sb.fs.upload_file(b"#!/bin/sh\\necho hi\\n", "/usr/local/bin/hi", mode=0o755)
        """
        query = {"path": check_path(remote_path, "remote_path"), "mode": _mode(mode), "parents": "true" if create_parents else "false"}
        chunks, size = source_chunks(source)
        entry: FileEntry = self._http.json(
            "PUT", self._base, FileEntry, query=query, content=_counted(chunks, size, on_progress), content_length=size
        )
        return entry

    def write_file(self, path: str, content: str | bytes, *, mode: int | None = None) -> FileEntry:
        """Writes small content (text or bytes) to a file, atomically.

        Example::

            sb.fs.write_file("/etc/app.conf", "debug = true\\n")
        """
        return self.upload_file(content.encode() if isinstance(content, str) else content, path, mode=mode)

    def read_file(self, path: str) -> bytes:
        """Reads a small file (at most 64 MiB) as bytes; ``download_file`` streams larger ones.

        Example::

            data = sb.fs.read_file("/etc/os-release")
        """
        response = self._http.send("GET", self._base, query={"path": check_path(path)})
        try:
            size = int(response.headers.get(SIZE_HINT_HEADER) or 0)
            parts: list[bytes] = []
            read = 0
            if size <= READ_FILE_LIMIT:
                # The size is only a hint (pseudo-files report none): the cap holds while reading.
                for chunk in response.iter_bytes():
                    read += len(chunk)
                    if read > READ_FILE_LIMIT:
                        break
                    parts.append(chunk)
            if size > READ_FILE_LIMIT or read > READ_FILE_LIMIT:
                raise local_error(
                    "payload_too_large",
                    f"{path} is over {READ_FILE_LIMIT} bytes; read_file reads at most that: use download_file",
                    {"path": path, "limit": READ_FILE_LIMIT},
                )
            return b"".join(parts)
        except httpx.HTTPError as err:
            raise cut_error(f"the read of {path}", err, from_sandbox=True) from err
        finally:
            response.close()

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """``read_file`` as text."""
        return (self.read_file(path)).decode(encoding)

    def download_file(self, remote_path: str, destination: str | os.PathLike[str] | IO[bytes], *, on_progress: Progress | None = None) -> None:
        """Downloads a file, streamed, to a local path (written atomically) or into a binary
        file object.

        Example::

            sb.fs.download_file("/data/out.csv", "./out.csv")
        """
        query = {"path": check_path(remote_path, "remote_path")}
        target = os.fspath(destination) if isinstance(destination, (str, os.PathLike)) else None
        # The destination's directory is checked first, so a typo fails before the transfer.
        if target is not None:
            check_local_dir(os.path.dirname(os.path.abspath(target)))
        response = self._http.send("GET", self._base, query=query)
        hint = response.headers.get(SIZE_HINT_HEADER)
        total = int(hint) if hint and hint.isdigit() else None
        sink = AtomicFile(target) if target is not None else None
        seen = 0
        try:
            for chunk in response.iter_bytes():
                if sink is not None:
                    sink.write(chunk)
                else:
                    try:
                        destination.write(chunk)  # type: ignore[union-attr]
                    except OSError as err:
                        raise local_write_error("the destination file object", err) from err
                seen += len(chunk)
                if on_progress is not None:
                    on_progress(seen, total)
            if sink is not None:
                sink.commit()
        except BaseException as err:
            if sink is not None:
                sink.discard()
            if isinstance(err, httpx.HTTPError):
                raise cut_error(f"the download of {remote_path}", err, from_sandbox=True) from err
            raise
        finally:
            response.close()

    def stat_file(self, path: str) -> FileEntry:
        """Describes a path: name, type (file, dir, symlink, other), size, mode, owner, mtime
        and a symlink's target. Raises FileNotFoundInSandboxError if nothing is there.

        Example::

            entry = sb.fs.stat_file("/app/main.py")
            print(entry.size, oct(entry.mode))
        """
        entry: FileEntry = self._http.json("GET", f"{self._base}/stat", FileEntry, query={"path": check_path(path)})
        return entry

    def list_files(self, path: str) -> list[FileEntry]:
        """Lists a directory's children.

        Example::

            for entry in sb.fs.list_files("/app"):
                print(entry.name, entry.type)
        """
        return self._http.parsed_list("GET", f"{self._base}/list", "entries", FileEntry, query={"path": check_path(path)})

    def delete_file(self, path: str, *, recursive: bool = False) -> None:
        """Deletes a file, or a directory (``recursive=True`` for one that is not empty)."""
        response = self._http.send(
            "DELETE", self._base, query={"path": check_path(path), "recursive": "true" if recursive else "false"}
        )
        response.close()

    def make_dir(self, path: str, *, mode: int | None = None, parents: bool = True) -> FileEntry:
        """Creates a directory (and its parents, by default).

        Example::

            sb.fs.make_dir("/app/data", mode=0o700)
        """
        query = {"path": check_path(path), "mode": _mode(mode), "parents": "true" if parents else "false"}
        entry: FileEntry = self._http.json("POST", f"{self._base}/mkdir", FileEntry, query=query)
        return entry

    def rename(self, source: str, destination: str) -> FileEntry:
        """Renames or moves a path."""
        json = {"from": check_path(source, "from"), "to": check_path(destination, "to")}
        entry: FileEntry = self._http.json("POST", f"{self._base}/rename", FileEntry, json=json)
        return entry

    def chmod(self, path: str, mode: int) -> FileEntry:
        """Sets permission bits: ``sb.fs.chmod("/app/run.sh", 0o755)``."""
        _mode(mode)
        entry: FileEntry = self._http.json("POST", f"{self._base}/chmod", FileEntry, json={"path": check_path(path), "mode": mode})
        return entry

    def upload_files(self, files: Mapping[str, Union[str, "os.PathLike[str]", bytes]] | Iterable[BatchUpload]) -> list[BatchResult]:
        """Uploads many files in one tar stream; each lands atomically and gets its own result.
        Give a mapping of sandbox path to local path or bytes, or BatchUpload entries (with a
        mode).

        Example::

            results = sb.fs.upload_files({"/app/a.py": b"print(1)", "/app/run.sh": "./run.sh"})
            assert all(r.ok for r in results)
        """
        items: list[BatchUpload] = (
            [BatchUpload(p, s) for p, s in files.items()] if isinstance(files, Mapping) else list(files)
        )
        entries: list[PackEntry] = []
        for i, f in enumerate(items):
            remote = check_path(f.path, f"files.{i}.path")
            _mode(f.mode)
            source: str | bytes = f.source if isinstance(f.source, bytes) else os.fspath(f.source)
            # A local file that is not there fails here, not half-way through the upload.
            if not isinstance(source, bytes):
                try:
                    os.lstat(source)
                except OSError as err:
                    raise local_file_error(source, err) from err
            entries.append((remote[1:], source, f.mode))
        return self._put_archive("/", pack_entries(entries))

    def upload_directory(self, local_dir: str | os.PathLike[str], remote_dir: str) -> list[BatchResult]:
        """Uploads a local directory's contents into a directory of the sandbox, in one tar
        stream (files are streamed; symlinks are sent as symlinks).

        Example::

            sb.fs.upload_directory("./src", "/app/src")
        """
        check_path(remote_dir, "remote_dir")
        root = os.fspath(local_dir)
        check_local_dir(root)
        return self._put_archive(remote_dir, pack_entries(walk_local(root)))

    def download_directory(self, remote_dir: str, local_dir: str | os.PathLike[str]) -> int:
        """Downloads a sandbox directory into a local one, in one tar stream, safely (nothing
        lands outside ``local_dir``). Returns the number of entries written.

        Example::

            sb.fs.download_directory("/app/out", "./out")
        """
        response = self._http.send("GET", f"{self._base}/archive", query={"path": check_path(remote_dir, "remote_dir")})
        try:
            extractor = Extractor(os.fspath(local_dir))
            try:
                for chunk in response.iter_bytes():
                    extractor.feed(chunk)
            except httpx.HTTPError as err:
                extractor.discard()
                raise cut_error(f"the archive of {remote_dir}", err, from_sandbox=True) from err
            return extractor.finish()
        finally:
            response.close()

    def find_in_files(self, path: str, pattern: str, *, glob: str | None = None, max_matches: int | None = None) -> list[FindMatch]:
        """Finds lines matching a regular expression (JavaScript syntax) under a path,
        optionally only in files whose relative path matches a glob.

        Example::

            matches = sb.fs.find_in_files("/app", "TODO", glob="**/*.py")
        """
        json: dict[str, Any] = {"path": check_path(path), "pattern": pattern}
        if glob is not None:
            json["glob"] = glob
        if max_matches is not None:
            json["maxMatches"] = max_matches
        return self._http.parsed_list("POST", f"{self._base}/find", "matches", FindMatch, json=json)

    def replace_in_files(self, paths: Iterable[str], pattern: str, replacement: str) -> list[str]:
        """Replaces a regular expression in files (each rewritten atomically); returns those
        changed.

        Example::

            changed = sb.fs.replace_in_files(["/app/config.py"], "DEBUG = True", "DEBUG = False")
        """
        json = {"paths": [check_path(p, "paths") for p in paths], "pattern": pattern, "replacement": replacement}
        value = self._http.json("POST", f"{self._base}/replace", json=json)
        changed = value.get("changed") if isinstance(value, dict) else None
        if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
            raise InvalidResponseError("invalid_response", f"unexpected answer from POST {self._base}/replace: {str(value)[:200]}", 200)
        return changed

    def _put_archive(self, remote_dir: str, tar: Iterable[bytes]) -> list[BatchResult]:
        return self._http.parsed_list(
            "PUT", f"{self._base}/archive", "results", BatchResult, query={"path": remote_dir}, content=tar, content_type="application/x-tar"
        )

