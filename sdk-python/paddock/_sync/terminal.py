# Generated from paddock/_async by scripts/unasync.py: edit that, not this.
"""Terminals: ``sb.pty``, processes on a pseudo-terminal, as the TypeScript SDK's
``sandbox.pty``. Output, input, kill and wait use the plain HTTP process routes (an NDJSON event
stream, a streamed stdin body); only a resize goes on the process's WebSocket, which is the one
route that takes it (one message on a short-lived connection, see paddock/_websocket.py)."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from .._options import run_options
from ..errors import local_error
from ..types import ProcessExit, ProcessInfo
from .http import Http
from .process import Process, process_ref

#: Columns or rows of a terminal (PROCESS_LIMITS.terminalCells).
MAX_CELLS = 1000


def _size(cols: int, rows: int) -> dict[str, int]:
    for name, value in (("cols", cols), ("rows", rows)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CELLS:
            raise local_error("invalid_request", f"invalid request: {name}: a whole number from 1 to {MAX_CELLS}, got {value!r}")
    return {"cols": cols, "rows": rows}


class Terminal:
    """A process on a pseudo-terminal: ``sb.pty.create()``. Its output is one byte stream,
    ``output`` (also iterated as the terminal itself); it runs in the background, so it
    outlives this handle: ``close()`` only disconnects, ``sb.pty.connect(pid)`` reattaches.
    Ctrl-C is ``send_input("\\x03")``, end of input ``send_input("\\x04")``.

    Example::

        term = sb.pty.create(cols=120, rows=40)
        term.send_input("ls -la\\nexit\\n")
        for chunk in term:
            sys.stdout.buffer.write(chunk)
        print((term.wait()).exit_code)
    """

    def __init__(self, process: Process) -> None:
        self._process = process
        # A terminal has one stream; stderr only comes from a process that is not on one.
        process.stderr = process.stdout
        #: The process's pid inside the sandbox.
        self.pid = process.pid
        #: Everything the terminal shows, as it comes (its last 4 MiB are kept while unread).
        self.output = process.stdout

    def __iter__(self) -> Iterator[bytes]:
        return self.output.__iter__()

    def wait(self) -> ProcessExit:
        """Waits for the terminal's process to exit; output not read meanwhile keeps its last
        4 MiB in ``output``.

        Example::

            exit = term.wait()
        """
        return self._process.wait()

    def kill(self, signal: str = "SIGKILL") -> ProcessInfo:
        """Sends a signal (default SIGKILL) to the terminal's process group.

        Example::

            term.kill("SIGHUP")
        """
        return self._process.kill(signal)

    def close(self) -> None:
        """Disconnects; the process runs on (reattach with ``sb.pty.connect(pid)``)."""
        self._process.close()

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_input(self, data: str | bytes) -> None:
        """Types into the terminal (text as UTF-8, or raw bytes).

        Example::

            term.send_input("echo hi\\n")
        """
        self._process.write_stdin(data)

    def resize(self, cols: int, rows: int) -> None:
        """Changes the terminal's size; its foreground program gets SIGWINCH.

        Example::

            term.resize(132, 43)
        """
        message: dict[str, object] = {"type": "resize", **_size(cols, rows)}
        process = self._process
        process._http.websocket_message(f"{process._base}/{self.pid}/stream", message, query={"output": "false"})


class Pty:
    """Terminals in one sandbox: ``sb.pty``.

    Example::

        term = sb.pty.create(command=["python3"], cols=100, rows=30)
        term.send_input("print(6 * 7)\\n")
    """

    def __init__(self, http: Http, base: str) -> None:
        self._http = http
        self._base = base

    def create(
        self,
        *,
        cols: int = 80,
        rows: int = 24,
        command: list[str] | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        user: str | int | None = None,
        timeout: float | None = None,
        tag: str | None = None,
    ) -> Terminal:
        """Starts a program (default: the user's login shell) on a new terminal and attaches to
        it. TERM is xterm-256color unless ``env`` says otherwise. ``timeout`` (seconds) as for
        ``sb.process.exec``.

        Example::

            term = sb.pty.create(command=["sh"], cols=100, rows=30, env={"PS1": "$ "})
        """
        if command is not None and (not isinstance(command, list) or not all(isinstance(a, str) for a in command)):
            raise local_error("invalid_request", "invalid request: pty.command: give the program and its arguments as a list of strings")
        body: dict[str, Any] = {
            "argv": list(command or []),
            "pty": _size(cols, rows),
            "background": True,
            "stdin": True,
            **run_options("pty", cwd=cwd, env=env, user=user, timeout=timeout, tag=tag),
        }
        info: ProcessInfo = self._http.json("POST", self._base, ProcessInfo, json=body)
        return self.connect(info.pid)

    def connect(self, ref: str | int) -> Terminal:
        """Reattaches to a terminal's process by pid (or tag): its kept recent output first,
        then live.

        Example::

            term = sb.pty.connect(pid)
        """
        response = self._http.send("GET", f"{self._base}/{process_ref(ref)}/events")
        return Terminal(Process._start(self._http, self._base, response))
