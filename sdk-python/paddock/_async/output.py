"""A process's output streams, read from the daemon as they are iterated."""

from __future__ import annotations

import collections
from typing import AsyncIterator, Protocol

#: Bytes an unread stream keeps (its most recent output) before dropping the oldest, as the
#: TypeScript SDK keeps: an unread stderr never grows without bound while stdout is read.
UNREAD_LIMIT_BYTES = 4 * 1024 * 1024


class Pump(Protocol):
    async def _pump(self) -> bool:
        """Reads one event of the process into its streams; False once it has exited."""


class AsyncOutputStream:
    """One output stream (stdout or stderr) of a process, iterated as byte chunks.

    Output is read from the daemon as it is iterated: while one stream is read, the other
    keeps its most recent 4 MiB (``dropped_bytes`` counts what went), so memory stays bounded
    whatever the process prints.

    Example::

        async for chunk in proc.stdout:
            sys.stdout.buffer.write(chunk)
        async for line in proc.stderr.lines():
            print("err:", line)
    """

    def __init__(self, process: Pump) -> None:
        self._process = process
        self._chunks: collections.deque[bytes] = collections.deque()
        self._bytes = 0
        self._keep_all = False
        #: Bytes dropped while the other stream was read and this one was not.
        self.dropped_bytes = 0

    def _push(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._bytes += len(chunk)
        while not self._keep_all and self._bytes > UNREAD_LIMIT_BYTES and len(self._chunks) > 1:
            old = self._chunks.popleft()
            self._bytes -= len(old)
            self.dropped_bytes += len(old)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._bytes -= len(chunk)
                yield chunk
            elif not await self._process._pump():
                return

    async def lines(self) -> AsyncIterator[str]:
        """The output as lines of text (UTF-8), without their newline."""
        pending = b""
        async for chunk in self:
            pending += chunk
            if b"\n" in chunk:
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", "replace")
        if pending:
            yield pending.decode("utf-8", "replace")

    async def read(self) -> bytes:
        """All remaining output as bytes."""
        return b"".join([chunk async for chunk in self])

    async def text(self) -> str:
        """All remaining output as text (UTF-8)."""
        return (await self.read()).decode("utf-8", "replace")
