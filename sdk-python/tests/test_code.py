"""sb.code (contexts that keep their state) against a real daemon, on runc and runsc. The
shared sandbox is busybox, without python3: the contexts are node (the agent's own)."""

from __future__ import annotations

import asyncio

import pytest

import paddock
from paddock import AsyncSandbox, Sandbox


def test_code_context_keeps_state_and_reports_output_value_and_errors(sb: Sandbox) -> None:
    ctx = sb.code.create_context(language="node", cwd="/tmp")
    assert (ctx.language, ctx.cwd, ctx.running) == ("node", "/tmp", True)
    try:
        assert sb.code.run("let x = 6", context=ctx).error is None
        printed: list[str] = []
        r = sb.code.run("console.log('out ü'); console.error('err'); x * 7", context=ctx.id, on_stdout=printed.append)
        assert (r.context, r.stdout, r.stderr, r.value, r.error, r.timed_out) == (ctx.id, "out ü\n", "err\n", "42", None, False)
        assert "".join(printed) == "out ü\n"
        failed = sb.code.run("throw new TypeError('bad input')", context=ctx)
        assert failed.error is not None and (failed.error.name, failed.error.message) == ("TypeError", "bad input")
        slow = sb.code.run("while (true) {}", context=ctx, timeout=0.3)
        assert slow.timed_out and slow.error is not None and slow.error.name == "TimeoutError"
        assert sb.code.run("x", context=ctx).value == "6"  # the state survived the timeout
        assert ctx.id in [c.id for c in sb.code.list_contexts()]
        assert sb.code.get_context(ctx).running
        sb.code.restart(ctx)
        assert sb.code.run("typeof x", context=ctx).value == "'undefined'"
    finally:
        sb.code.close(ctx)
    with pytest.raises(paddock.NotFoundError):
        sb.code.get_context(ctx)
    with pytest.raises(paddock.InvalidRequestError):
        sb.code.run("1", context="no/such")
    with pytest.raises(paddock.InvalidRequestError):
        sb.code.create_context(language="ruby")


def test_async_code_default_context(sb: Sandbox) -> None:
    async def main() -> None:
        asb = await AsyncSandbox.connect(sb.id)
        try:
            await asb.code.run("globalThis.n = 1", language="node")
            r = await asb.code.run("n + 1", language="node")
            assert (r.context, r.value) == ("default-node", "2")
            await asb.code.close("default-node")
        finally:
            await asb.aclose()

    asyncio.run(main())
