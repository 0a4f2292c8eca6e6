"""Tar streams without I/O, so the sync and async clients share them: headers to write, and a
parser fed bytes as they arrive. Nothing is held beyond one 512-byte block (and the small
pax or GNU long-name records), so archives of any size stream through."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from typing import Iterator, Union

BLOCK = 512
#: Two zero blocks end an archive.
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


def header(name: str, *, size: int = 0, mode: int = 0o644, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> bytes:
    """One entry's header; names of any length go in a pax record, as tar-stream writes them."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.type = kind
    info.linkname = linkname
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


@dataclass(frozen=True)
class Entry:
    """An entry's start; its bytes follow as Data events, then an EntryEnd."""

    name: str
    #: file, dir, symlink, or other (hard links, devices, fifos: skipped by the extractor).
    kind: str
    size: int
    mode: int
    linkname: str


@dataclass(frozen=True)
class Data:
    data: bytes


@dataclass(frozen=True)
class EntryEnd:
    pass


Event = Union[Entry, Data, EntryEnd]

_KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink"}
_META = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)


class TarFormatError(ValueError):
    pass


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    at = 0
    while at < len(data):
        space = data.find(b" ", at)
        if space < 0:
            break
        length = int(data[at:space])
        if length <= 0:
            raise TarFormatError("a pax record has a bad length")
        key, _, value = data[space + 1 : at + length - 1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        at += length
    return records


class TarReader:
    """Feed it bytes; it yields events. ``finish()`` checks the archive was whole."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._remaining = 0  # bytes of the current entry's content still to come
        self._pad = 0  # padding after it
        self._meta: tuple[bytes, bytearray] | None = None  # a pax or long-name record being read
        self._pending: dict[str, str] = {}  # overrides for the next header
        self._in_entry = False
        self._ended = False

    def feed(self, chunk: bytes) -> Iterator[Event]:
        if self._ended:
            return
        self._buf += chunk
        while True:
            if self._remaining:
                take = min(self._remaining, len(self._buf))
                if take == 0:
                    return
                piece = bytes(self._buf[:take])
                del self._buf[:take]
                self._remaining -= take
                if self._meta is not None:
                    self._meta[1].extend(piece)
                else:
                    yield Data(piece)
                if self._remaining:
                    return
            if self._pad:
                take = min(self._pad, len(self._buf))
                del self._buf[:take]
                self._pad -= take
                if self._pad:
                    return
            if self._meta is not None:
                self._end_meta()
            elif self._in_entry:
                self._in_entry = False
                yield EntryEnd()
            if len(self._buf) < BLOCK:
                return
            block = bytes(self._buf[:BLOCK])
            del self._buf[:BLOCK]
            if block == b"\0" * BLOCK:
                self._ended = True
                return
            event = self._header(block)
            if event is not None:
                yield event

    def _header(self, block: bytes) -> Entry | None:
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as err:
            raise TarFormatError(f"a tar header is damaged: {err}") from err
        self._remaining = info.size
        self._pad = -info.size % BLOCK
        if info.type in _META:
            self._meta = (info.type, bytearray())
            return None
        name = self._pending.pop("path", info.name)
        linkname = self._pending.pop("linkpath", info.linkname)
        size = int(self._pending.pop("size", info.size))
        self._pending.clear()
        self._remaining = size
        self._pad = -size % BLOCK
        self._in_entry = True
        kind = _KINDS.get(info.type, "other")
        return Entry(name=name, kind=kind, size=size, mode=info.mode, linkname=linkname)

    def _end_meta(self) -> None:
        assert self._meta is not None
        kind, data = self._meta
        self._meta = None
        if kind == tarfile.XHDTYPE:
            self._pending.update(_pax_records(bytes(data)))
        elif kind == tarfile.GNUTYPE_LONGNAME:
            self._pending["path"] = bytes(data).rstrip(b"\0").decode("utf-8", "surrogateescape")
        elif kind == tarfile.GNUTYPE_LONGLINK:
            self._pending["linkpath"] = bytes(data).rstrip(b"\0").decode("utf-8", "surrogateescape")

    def finish(self) -> None:
        if not self._ended and (self._buf or self._remaining or self._in_entry or self._meta is not None):
            raise TarFormatError("the archive ends inside an entry")
