"""Code that keeps its state: ``sb.code``, contexts of the daemon's code API
(``/v1/sandboxes/:id/code``), as the TypeScript SDK's ``sandbox.code``."""

from __future__ import annotations

import base64
import codecs
import re
from typing import Any, Callable, Mapping

from .._options import run_options
from ..errors import ERROR_STATUS, InvalidResponseError, local_error
from ..types import CodeContext, CodeError, CodeRunResult, parse
from .http import AsyncHttp, ndjson

LANGUAGES = ("python", "node")
#: Context ids are made by the agent: ``ctx-`` and hex, or ``default-<language>``.
_CONTEXT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _context_id(context: CodeContext | str) -> str:
    text = context.id if isinstance(context, CodeContext) else context
    if not isinstance(text, str) or not _CONTEXT_ID.match(text):
        raise local_error("invalid_request", f"invalid request: context: a context id looks like ctx-1a2b3c4d or default-python, got {text!r}")
    return text


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise local_error("invalid_request", f"invalid request: language: one of {', '.join(LANGUAGES)}, got {language!r}")
    return language


def _is_result(event: dict[str, Any]) -> bool:
    value = event.get("value")
    return (
        isinstance(event.get("context"), str)
        and isinstance(event.get("timedOut"), bool)
        and (value is None or isinstance(value, str))
        and "error" in event
    )


class _Text:
    """One output stream's text, decoded as it comes (a character is never split)."""

    def __init__(self, listener: Callable[[str], None] | None) -> None:
        self.text = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._listener = listener

    def push(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if text:
            self.text += text
            if self._listener is not None:
                self._listener(text)


class AsyncCodeInterpreter:
    """Code that keeps its state: ``sb.code``. A context is a python or node interpreter that
    lives on between runs, like a notebook's kernel (python3 must be in the image; node is the
    agent's own, in any image). One-off programs are ``sb.process.run_code``.

    Example::

        await sb.code.run("x = 42")
        result = await sb.code.run("print(x)")  # result.stdout == "42\\n"
    """

    def __init__(self, http: AsyncHttp, base: str) -> None:
        self._http = http
        self._base = base

    async def create_context(
        self,
        *,
        language: str = "python",
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        user: str | int | None = None,
    ) -> CodeContext:
        """Starts an interpreter and returns its context.

        Example::

            ctx = await sb.code.create_context(language="node", cwd="/tmp")
            await sb.code.run("const fs = require('fs')", context=ctx)
        """
        body: dict[str, Any] = {"language": _language(language), **run_options("code", cwd=cwd, env=env, user=user)}
        context: CodeContext = await self._http.json("POST", f"{self._base}/contexts", CodeContext, json=body)
        return context

    async def run(
        self,
        code: str,
        *,
        context: CodeContext | str | None = None,
        language: str | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> CodeRunResult:
        """Runs code and returns its output, the last expression's value and any error it
        raised (a raised error is a result, not an exception). Without ``context``, the
        ``language``'s default context (python unless given). ``timeout`` (seconds) interrupts
        the code; the result's error is then a TimeoutError and the context keeps its state.
        Runs in one context wait for each other. A dead interpreter is a ConflictError (restart
        the context); an unknown context a NotFoundError.

        Example::

            r = await sb.code.run("import time\\nprint(1); time.sleep(1); 6 * 7", on_stdout=print, timeout=10)
            print(r.value)  # "42"
        """
        if not isinstance(code, str):
            raise local_error("invalid_request", "invalid request: run.code: give the code as a string")
        body: dict[str, Any] = {"code": code}
        if context is not None:
            body["context"] = _context_id(context)
        if language is not None:
            body["language"] = _language(language)
        if timeout is not None:
            if timeout <= 0:
                raise local_error("invalid_request", "invalid request: run.timeout: must be more than 0 seconds")
            body["timeoutMs"] = max(1, round(timeout * 1000))
        response = await self._http.send("POST", f"{self._base}/run", json=body)
        what = "the code run's event stream"
        stdout, stderr = _Text(on_stdout), _Text(on_stderr)
        try:
            async for event in ndjson(response, what, from_sandbox=True):
                kind = event.get("type") if isinstance(event, dict) else None
                if kind == "start":
                    continue
                if (kind == "stdout" or kind == "stderr") and isinstance(event.get("data"), str):
                    (stdout if kind == "stdout" else stderr).push(base64.b64decode(event["data"]))
                elif kind == "error":
                    name, message = event.get("code"), event.get("message")
                    known = name if isinstance(name, str) and name in ERROR_STATUS else "internal"
                    raise local_error(known, message if isinstance(message, str) else f"{what} failed")
                elif kind == "result" and _is_result(event):
                    stdout.push(b"", True)
                    stderr.push(b"", True)
                    error = event["error"]
                    return CodeRunResult(
                        event["context"],
                        stdout.text,
                        stderr.text,
                        event["value"],
                        None if error is None else parse(CodeError, error, what),
                        event["timedOut"],
                    )
                else:
                    raise InvalidResponseError(
                        "invalid_response", f"{what} sent an event that is not Paddock's protocol: {str(event)[:200]}", 200
                    )
        finally:
            # Also when returning from inside the loop, where the stream is not yet closed.
            await response.aclose()
        raise InvalidResponseError("invalid_response", f"{what} ended without a result", 200)

    async def restart(self, context: CodeContext | str) -> CodeContext:
        """A fresh interpreter under the same id: every variable is gone."""
        restarted: CodeContext = await self._http.json("POST", f"{self._base}/contexts/{_context_id(context)}/restart", CodeContext)
        return restarted

    async def close(self, context: CodeContext | str) -> CodeContext:
        """Kills the context's interpreter; the context is gone."""
        closed: CodeContext = await self._http.json("DELETE", f"{self._base}/contexts/{_context_id(context)}", CodeContext)
        return closed

    async def get_context(self, context: CodeContext | str) -> CodeContext:
        """One context, with whether its interpreter still runs."""
        found: CodeContext = await self._http.json("GET", f"{self._base}/contexts/{_context_id(context)}", CodeContext)
        return found

    async def list_contexts(self) -> list[CodeContext]:
        """Every context of the sandbox, the default ones included once used."""
        return await self._http.parsed_list("GET", f"{self._base}/contexts", "contexts", CodeContext)
