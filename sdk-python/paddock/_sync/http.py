# Generated from paddock/_async by scripts/unasync.py: edit that, not this.
"""The one place the async client talks HTTP: auth, errors, answer checks, NDJSON streams."""

from __future__ import annotations

import json as jsonlib
from typing import Any, Iterator, Iterable, Mapping, TypeVar

import httpx

from .._config import ClientConfig, resolve_config
from .._transport import sync_transport
from ..errors import (
    InvalidResponseError,
    NetworkError,
    PaddockError,
    UnauthorizedError,
    cut_error,
    error_from_body,
)
from ..types import parse
from .websocket import send_one_message

T = TypeVar("T")
Query = Mapping[str, "str | list[str] | None"]

#: Connecting may take a while on a busy host; nothing else has a time limit, since a create,
#: a process's quiet output or a large transfer all legitimately take long.
TIMEOUT = httpx.Timeout(None, connect=30.0)


def _iterate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk


class Http:
    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.config: ClientConfig = resolve_config(url, token)
        headers = {"authorization": f"Bearer {self.config.token}"} if self.config.token else {}
        self.client = httpx.Client(headers=headers, timeout=TIMEOUT, transport=sync_transport())

    def close(self) -> None:
        self.client.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        json: object = None,
        content: Iterable[bytes] | bytes | None = None,
        content_type: str = "application/octet-stream",
        content_length: int | None = None,
    ) -> httpx.Response:
        """Sends a request; returns the response, unread, once it is known to be a success.
        The caller reads and closes it."""
        headers: dict[str, str] = {}
        body: Any = None
        if json is not None:
            headers["content-type"] = "application/json"
            body = jsonlib.dumps(json).encode()
        elif content is not None:
            headers["content-type"] = content_type
            # A known length takes the daemon's fast path for large uploads.
            if content_length is not None:
                headers["content-length"] = str(content_length)
            body = content if isinstance(content, bytes) else _iterate(content)
        params: list[tuple[str, str | int | float | bool | None]] = [(k, v) for k, vs in (query or {}).items() for v in _values(vs)]
        request = self.client.build_request(method, self.config.url + path, params=params, headers=headers, content=body)
        try:
            response = self.client.send(request, stream=True)
        except PaddockError:
            raise  # a local source that failed while it was sent: the caller's own error
        except httpx.HTTPError as err:
            raise NetworkError(
                "network_error",
                f"cannot reach the Paddock daemon at {self.config.url}: {err}. Is `paddock serve` running?",
                0,
            ) from err
        if response.status_code >= 400:
            try:
                text = response.read()
            except httpx.HTTPError as err:
                raise cut_error(f"the error answer to {method} {path}", err, from_sandbox=False) from err
            finally:
                response.close()
            error = error_from_body(response.status_code, _loads(text))
            if isinstance(error, UnauthorizedError):
                shown = f"token from {self.config.token_source}" if self.config.token else self.config.token_source
                error = UnauthorizedError(error.code, f"{error.message} ({shown})", error.status, {**error.details, "tokenSource": self.config.token_source})
            raise error
        return response

    def json(self, method: str, path: str, cls: type[T] | None = None, **kwargs: Any) -> Any:
        """Sends a request and returns its JSON answer, checked against dataclass ``cls``."""
        response = self.send(method, path, **kwargs)
        try:
            text = response.read()
        except httpx.HTTPError as err:
            raise cut_error(f"the answer to {method} {path}", err, from_sandbox=False) from err
        finally:
            response.close()
        value = _loads(text)
        if value is _NOT_JSON:
            raise InvalidResponseError(
                "invalid_response", f"unexpected answer from {method} {path}: not JSON: {text[:200]!r}", response.status_code
            )
        return value if cls is None else parse(cls, value, f"{method} {path}")

    def websocket_message(self, path: str, message: object, *, query: dict[str, str] | None = None) -> None:
        """Sends one JSON text message on a WebSocket route, then closes it normally; returns
        once the daemon has closed too (so the message was handled). Refusals before the
        switch are the daemon's ordinary errors."""
        send_one_message(self.config.url, self.config.token, path, query or {}, message)

    def parsed_list(self, method: str, path: str, key: str, cls: type[T], **kwargs: Any) -> list[T]:
        """A JSON answer ``{key: [...]}``, each item checked against ``cls``."""
        value = self.json(method, path, **kwargs)
        items = value.get(key) if isinstance(value, dict) else None
        if not isinstance(items, list):
            raise InvalidResponseError("invalid_response", f"unexpected answer from {method} {path}: no list {key!r}", 200)
        return [parse(cls, item, f"{method} {path}") for item in items]


def ndjson(response: httpx.Response, what: str, *, from_sandbox: bool) -> Iterator[Any]:
    """The JSON values of an NDJSON answer, one per line, as they arrive; closes the response."""
    buffered = b""
    try:
        for chunk in response.iter_bytes():
            buffered = buffered + chunk if buffered else chunk
            start = 0
            while (nl := buffered.find(b"\n", start)) >= 0:
                line = buffered[start:nl]
                start = nl + 1
                if line.strip():
                    yield _line(line, what)
            buffered = buffered[start:]
        if buffered.strip():
            yield _line(buffered, what)
    except httpx.HTTPError as err:
        raise cut_error(what, err, from_sandbox=from_sandbox) from err
    finally:
        response.close()


_NOT_JSON = object()


def _loads(text: bytes) -> Any:
    try:
        return jsonlib.loads(text)
    except ValueError:
        return _NOT_JSON


def _line(line: bytes, what: str) -> Any:
    value = _loads(line)
    if value is _NOT_JSON:
        raise InvalidResponseError("invalid_response", f"{what} sent a line that is not JSON: {line[:200]!r}", 200)
    return value


def _values(value: str | list[str] | None) -> list[str]:
    return [] if value is None else value if isinstance(value, list) else [value]
