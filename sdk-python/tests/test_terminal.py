"""sb.pty (programs on a pseudo-terminal) against a real daemon, on runc and runsc."""

from __future__ import annotations

import asyncio

import pytest

import paddock
from paddock import AsyncSandbox, Sandbox, Terminal


def read_until(term: Terminal, text: str) -> str:
    seen = ""
    for chunk in term:
        seen += chunk.decode("utf-8", "replace")
        if text in seen:
            return seen
    raise AssertionError(f"the terminal ended before {text!r}: {seen!r}")


def test_terminal_size_input_resize_reattach_and_exit(sb: Sandbox) -> None:
    term = sb.pty.create(command=["sh"], cols=50, rows=10, env={"PS1": "$ "})
    assert sb.process.get(term.pid).pty is not None
    term.send_input("stty size; tty\n")
    assert "10 50" in read_until(term, "/dev/pts/")
    term.resize(120, 40)
    term.close()  # only disconnects: the shell runs on
    again = sb.pty.connect(term.pid)
    again.send_input(b"stty size; echo $TERM; exit 3\n")
    seen = read_until(again, "xterm-256color")
    assert "40 120" in seen
    exit = again.wait()
    assert (exit.exit_code, exit.signal) == (3, None)


def test_terminal_kill_and_bad_sizes(sb: Sandbox) -> None:
    term = sb.pty.create(command=["sleep", "30"])
    term.kill("SIGTERM")
    assert term.wait().signal == "SIGTERM"
    with pytest.raises(paddock.InvalidRequestError):
        sb.pty.create(cols=0)
    with pytest.raises(paddock.InvalidRequestError):
        term.resize(80, 1001)


def test_async_terminal(sb: Sandbox) -> None:
    async def main() -> None:
        asb = await AsyncSandbox.connect(sb.id)
        try:
            async with await asb.pty.create(command=["sh"], cols=30, rows=5) as term:
                await term.resize(70, 20)
                await term.send_input("stty size; exit\n")
                seen = b"".join([chunk async for chunk in term])
                assert b"20 70" in seen
                assert (await term.wait()).exit_code == 0
        finally:
            await asb.aclose()

    asyncio.run(main())
