"""Work that runs beside the caller (feeding a process's stdin while its output is read): an
asyncio task here, a thread in the sync client (paddock/_sync/concurrency.py, hand-written)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine


class Background:
    def __init__(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._task = asyncio.get_running_loop().create_task(fn())
        # Its failure is raised by join(); one never joined must not be logged as unretrieved.
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def join(self) -> None:
        await self._task

    def cancel(self) -> None:
        self._task.cancel()
