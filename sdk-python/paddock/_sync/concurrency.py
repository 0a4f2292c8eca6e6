"""Work that runs beside the caller (feeding a process's stdin while its output is read): a
thread here, an asyncio task in the async client (paddock/_async/concurrency.py)."""

from __future__ import annotations

import threading
from typing import Callable


class Background:
    def __init__(self, fn: Callable[[], None]) -> None:
        self._failure: BaseException | None = None

        def run() -> None:
            try:
                fn()
            except BaseException as err:  # raised again by join(), in the caller's thread
                self._failure = err

        self._thread = threading.Thread(target=run, name="paddock-stdin", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._failure is not None:
            raise self._failure

    def cancel(self) -> None:
        """A thread cannot be cancelled; it ends when its request fails or the process exits."""
