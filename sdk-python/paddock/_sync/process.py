# Generated from paddock/_async by scripts/unasync.py: edit that, not this.
"""Processes in a sandbox: ``sb.process`` and the handles it returns."""

from __future__ import annotations

import base64
import re
from typing import IO, Any, Iterator, Iterable, Mapping, Union

from .._local import source_chunks
from .._options import run_options
from ..errors import (
    AgentUnavailableError,
    ConflictError,
    InvalidResponseError,
    NetworkError,
    PaddockError,
    ProcessNotFoundError,
    local_error,
)
from ..types import ProcessExit, ProcessInfo, ProcessOutput, parse
from .concurrency import Background
from .http import Http, ndjson
from .output import OutputStream

#: Stdin up to this size is written before exec returns; more, or a stream, is fed beside the
#: reading of the output, so a process that echoes its input cannot stall on a full pipe.
INLINE_STDIN_BYTES = 64 * 1024

#: What can be written to stdin: text, bytes, a binary file object or an iterable of chunks.
StdinData = Union[str, bytes, IO[bytes], Iterable[bytes]]

_REF = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: The agent's node, which every sandbox has whatever its image (AGENT_NODE_ARGV).
_NODE = ["/.paddock/runtime/ld-linux-x86-64.so.2", "--library-path", "/.paddock/runtime/lib", "/.paddock/runtime/node"]
#: Each interpreter reads the program from stdin, so code of any size and content passes.
INTERPRETERS: Mapping[str, list[str]] = {"python": ["python3", "-"], "node": [*_NODE, "-"], "sh": ["sh", "-s"]}


def process_ref(ref: str | int) -> str:
    """A pid or tag, checked before it is put in a URL."""
    text = str(ref)
    if not _REF.match(text):
        raise local_error("invalid_request", f"invalid request: ref: a process is named by its pid or its tag, got {text!r}")
    return text


class Process:
    """A process running in a sandbox: ``sb.process.exec(...)``.

    Its output is on ``stdout`` and ``stderr``; ``wait()`` gives the exit. A non-zero exit code
    is a result, not an error. A process started without ``background`` is killed when its
    handle is closed (or this program ends) before it exits.

    Example::

        proc = sb.process.exec("ls", "-la", "/")
        for line in proc.stdout.lines():
            print(line)
        exit = proc.wait()
        print(exit.exit_code)
    """

    def __init__(self, http: Http, base: str, pid: int, tag: str | None, events: Iterator[Any], close: Any) -> None:
        self._http = http
        self._base = base
        #: The process's pid inside the sandbox.
        self.pid = pid
        #: Its tag, if it was given one.
        self.tag = tag
        self.stdout = OutputStream(self)
        self.stderr = OutputStream(self)
        #: Bytes of output dropped from the daemon's bounded history before this handle attached.
        self.truncated_bytes = 0
        self._events = events
        self._close = close
        self._exit: ProcessExit | None = None
        self._failure: PaddockError | None = None
        self._feeding: Background | None = None

    @classmethod
    def _start(cls, http: Http, base: str, response: Any) -> Process:
        events = ndjson(response, "the process's event stream", from_sandbox=True).__iter__()
        try:
            first = events.__next__()
        except StopIteration:
            first = None
        if not isinstance(first, dict) or first.get("type") != "start" or not isinstance(first.get("pid"), int):
            response.close()
            raise InvalidResponseError("invalid_response", "the process stream did not begin with a start event", 200)
        tag = first.get("tag")
        return cls(http, base, first["pid"], tag if isinstance(tag, str) else None, events, response.close)

    def _pump(self) -> bool:
        """Reads one event from the daemon; False once the process has exited."""
        if self._exit is not None:
            return False
        if self._failure is not None:
            raise self._failure
        try:
            event = self._events.__next__()
        except StopIteration:
            self._failure = AgentUnavailableError(
                "agent_unavailable",
                f"the output stream of process {self.pid} ended before it exited (did the sandbox end?)",
                503,
            )
            raise self._failure from None
        except PaddockError as err:
            self._failure = err
            raise
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "stdout" or kind == "stderr":
            data = event.get("data")
            if not isinstance(data, str):
                raise self._invalid(event)
            (self.stdout if kind == "stdout" else self.stderr)._push(base64.b64decode(data))
        elif kind == "exit":
            self._exit = parse(ProcessExit, event, f"the exit of process {self.pid}")
            self._close()
        elif kind == "truncated":
            dropped = event.get("droppedBytes")
            self.truncated_bytes += dropped if isinstance(dropped, int) else 0
        else:
            raise self._invalid(event)
        return True

    def _invalid(self, event: object) -> PaddockError:
        self._failure = InvalidResponseError(
            "invalid_response", f"process {self.pid} sent an event that is not Paddock's protocol: {str(event)[:200]}", 200
        )
        return self._failure

    def wait(self) -> ProcessExit:
        """Waits for the process to exit and returns how: ``exit_code``, ``signal``,
        ``timed_out``, ``oom_killed``. Output not read meanwhile keeps its last 4 MiB.

        Example::

            exit = proc.wait()
            if exit.timed_out: ...
        """
        while self._exit is None:
            self._pump()
        self._join_stdin()
        return self._exit

    def output(self) -> ProcessOutput:
        """Waits for the exit and returns it with everything printed, as text.

        Example::

            out = (sb.process.exec("uname", "-a")).output()
            print(out.exit_code, out.stdout)
        """
        self.stdout._keep_all = self.stderr._keep_all = True
        exit = self.wait()
        stdout, stderr = self.stdout.text(), self.stderr.text()
        return ProcessOutput(exit.exit_code, exit.signal, exit.timed_out, exit.oom_killed, stdout, stderr)

    def write_stdin(self, data: StdinData, *, close: bool = False) -> None:
        """Writes to the process's stdin, streamed (it must have been started with
        ``stdin=True``); ``close=True`` closes stdin after.

        Example::

            proc = sb.process.exec("cat", stdin=True)
            proc.write_stdin("hello\\n", close=True)
        """
        chunks, _ = source_chunks(data.encode() if isinstance(data, str) else data)
        response = self._http.send(
            "POST", f"{self._base}/{self.pid}/stdin", query={"close": "true" if close else "false"}, content=chunks
        )
        response.close()

    def close_stdin(self) -> None:
        """Closes stdin: the process reads end-of-file."""
        self.write_stdin(b"", close=True)

    def kill(self, signal: str = "SIGKILL") -> ProcessInfo:
        """Sends a signal (default SIGKILL) to the process and everything it started."""
        info: ProcessInfo = self._http.json(
            "POST", f"{self._base}/{self.pid}/kill", ProcessInfo, json={"signal": signal}
        )
        return info

    def close(self) -> None:
        """Stops reading the process's output. One started without ``background`` is killed."""
        if self._feeding is not None:
            self._feeding.cancel()
        self._close()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _feed_stdin(self, data: StdinData) -> None:
        def feed() -> None:
            self.write_stdin(data, close=True)

        self._feeding = Background(feed)

    def _join_stdin(self) -> None:
        feeding, self._feeding = self._feeding, None
        if feeding is None:
            return
        try:
            feeding.join()
        except (ConflictError, ProcessNotFoundError, NetworkError):
            # The process exited before it read all its input: a program may well do that.
            pass


class Processes:
    """Processes in one sandbox: ``sb.process``.

    Example::

        out = (sb.process.exec("echo", "hi")).output()
        assert out.stdout == "hi\\n"
    """

    def __init__(self, http: Http, base: str) -> None:
        self._http = http
        self._base = base

    def exec(
        self,
        *argv: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        user: str | int | None = None,
        timeout: float | None = None,
        background: bool = False,
        tag: str | None = None,
        stdin: bool | StdinData | None = None,
    ) -> Process:
        """Starts a program with arguments, never through a shell, and returns its handle once
        it has started.

        ``timeout`` (seconds): SIGTERM to its process group after it, SIGKILL after a grace
        period; the exit then says ``timed_out``. ``background``: the process outlives this
        handle (``attach`` finds it again, by pid or ``tag``). ``stdin``: ``True`` keeps stdin
        open for ``write_stdin``; text, bytes, a binary file or an iterable of chunks is fed,
        streamed, then stdin is closed.

        Example::

            proc = sb.process.exec("python3", "-c", "print(1+1)", env={"A": "1"}, timeout=10)
            print((proc.output()).stdout)  # "2\\n"
        """
        if not argv or not all(isinstance(a, str) for a in argv) or argv[0] == "":
            raise local_error("invalid_request", "invalid request: exec.argv: give the program and its arguments as strings")
        keep_stdin = stdin is not None and stdin is not False
        body: dict[str, Any] = {
            "argv": list(argv),
            "stdin": keep_stdin,
            "background": background,
            **run_options("exec", cwd=cwd, env=env, user=user, timeout=timeout, tag=tag),
        }
        if background:
            info: ProcessInfo = self._http.json("POST", self._base, ProcessInfo, json=body)
            proc = self.attach(info.pid)
        else:
            proc = Process._start(self._http, self._base, self._http.send("POST", self._base, json=body))
        if keep_stdin and stdin is not True:
            data: Any = stdin
            if isinstance(data, (str, bytes)) and len(data) <= INLINE_STDIN_BYTES:
                proc.write_stdin(data, close=True)
            else:
                proc._feed_stdin(data)
        return proc

    def run(self, command: str, **options: Any) -> Process:
        """Runs a shell command line with ``sh -c``: the explicit way to get pipes, globs and
        ``&&``. Takes exec's options.

        Example::

            out = (sb.process.run("ls /etc | wc -l")).output()
        """
        return self.exec("sh", "-c", command, **options)

    def run_code(self, code: str, *, language: str = "python", **options: Any) -> Process:
        """Runs a program in ``python``, ``node`` or ``sh``; the code goes in on stdin.

        Example::

            out = (sb.process.run_code("print(6*7)")).output()
        """
        if language not in INTERPRETERS:
            raise local_error("invalid_request", f"invalid request: language: one of {', '.join(INTERPRETERS)}, got {language!r}")
        return self.exec(*INTERPRETERS[language], stdin=code, **options)

    def attach(self, ref: str | int) -> Process:
        """Reattaches to a process by pid or tag: its kept output since start, then live.

        Example::

            sb.process.exec("sh", "-c", "sleep 1; echo done", background=True, tag="job")
            out = (sb.process.attach("job")).output()
        """
        response = self._http.send("GET", f"{self._base}/{process_ref(ref)}/events")
        return Process._start(self._http, self._base, response)

    def list(self) -> list[ProcessInfo]:
        """Processes started through Paddock in this sandbox, running and recently ended."""
        return self._http.parsed_list("GET", self._base, "processes", ProcessInfo)

    def get(self, ref: str | int) -> ProcessInfo:
        """One process by pid or tag."""
        info: ProcessInfo = self._http.json("GET", f"{self._base}/{process_ref(ref)}", ProcessInfo)
        return info

    def kill(self, ref: str | int, signal: str = "SIGKILL") -> ProcessInfo:
        """Sends a signal (default SIGKILL) to a process's whole group, by pid or tag."""
        info: ProcessInfo = self._http.json(
            "POST", f"{self._base}/{process_ref(ref)}/kill", ProcessInfo, json={"signal": signal}
        )
        return info

    def wait_for_port(self, port: int, *, timeout: float = 30.0) -> None:
        """Returns once something accepts connections on ``port`` inside the sandbox; raises
        DeadlineError after ``timeout`` seconds."""
        sandbox = self._base[: -len("/processes")]
        response = self._http.send(
            "GET", f"{sandbox}/ports/{int(port)}/wait", query={"timeoutMs": str(max(1, round(timeout * 1000)))}
        )
        response.close()
