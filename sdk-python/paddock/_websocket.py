"""The little of RFC 6455 the SDK needs to send a process one control message (a terminal's
resize, which the daemon takes only on the process's WebSocket), without IO: the handshake,
masked client frames, and the daemon's unmasked frames. ``paddock/_async/websocket.py`` and
``paddock/_sync/websocket.py`` drive it over a socket of their own: httpx 0.23's upgrade stream
(httpcore 0.16, Debian 12's) loses bytes that arrive with the 101 answer.

Everything else about a terminal (output, input, kill, wait) uses the plain HTTP routes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any
from urllib.parse import urlencode, urlsplit

from .errors import ERROR_STATUS, InvalidResponseError, NetworkError, PaddockError, error_from_body, local_error

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE = 0x1, 0x8
#: Close code 1000: a normal close.
NORMAL_CLOSE = struct.pack("!H", 1000)
#: A one-message exchange is a few round trips; longer means the daemon is stuck.
TIMEOUT_SECONDS = 30.0


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame, masked as a client's must be."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class FrameReader:
    """The daemon's frames, from bytes fed as they come. ``feed`` returns True once the close
    frame has come; a ``{"type":"error"}`` message is raised as its PaddockError."""

    def __init__(self, where: str) -> None:
        self._buffer = b""
        self._where = where

    def feed(self, data: bytes) -> bool:
        self._buffer += data
        while len(self._buffer) >= 2:
            opcode, n = self._buffer[0] & 0x0F, self._buffer[1] & 0x7F
            at = 2
            if n == 126:
                if len(self._buffer) < 4:
                    return False
                (n,) = struct.unpack("!H", self._buffer[2:4])
                at = 4
            elif n == 127:
                if len(self._buffer) < 10:
                    return False
                (n,) = struct.unpack("!Q", self._buffer[2:10])
                at = 10
            if len(self._buffer) < at + n:
                return False
            payload, self._buffer = self._buffer[at : at + n], self._buffer[at + n :]
            if opcode == CLOSE:
                return True
            if opcode == TEXT:
                self._check(payload)
        return False

    def _check(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            raise InvalidResponseError("invalid_response", f"{self._where} sent a text message that is not JSON: {payload[:200]!r}", 101) from None
        if isinstance(message, dict) and message.get("type") == "error":
            code, text = message.get("code"), message.get("message")
            text = text if isinstance(text, str) else f"{self._where} failed"
            if isinstance(code, str) and code in ERROR_STATUS:
                raise local_error(code, text)
            raise InvalidResponseError("invalid_response", f"{self._where} failed: {text}", 101)


class OneMessage:
    """One JSON text message on a WebSocket route, then a normal close, without IO: connect to
    ``host``:``port`` (TLS if ``tls``), send ``request``, then ``feed`` what comes and send what
    it returns, until ``done``; ``eof()`` when the daemon closes. A refusal before the switch
    is raised as the daemon's error; an error message after it as its code."""

    def __init__(self, url: str, token: str | None, path: str, query: dict[str, str], message: Any) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.tls else 80)
        self.where = f"the WebSocket {path}"
        target = f"{parts.path.rstrip('/')}{path}" + (f"?{urlencode(query)}" if query else "")
        key = base64.b64encode(os.urandom(16)).decode()
        self._accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        lines = [
            f"GET {target} HTTP/1.1",
            f"host: {parts.netloc}",
            "connection: Upgrade",
            "upgrade: websocket",
            "sec-websocket-version: 13",
            f"sec-websocket-key: {key}",
            *([f"authorization: Bearer {token}"] if token else []),
        ]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self._frames = client_frame(TEXT, json.dumps(message).encode()) + client_frame(CLOSE, NORMAL_CLOSE)
        self._head = b""
        self._status = 0
        self._body_length = 0
        self._reader: FrameReader | None = None
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """Takes bytes from the daemon; returns bytes to send to it (maybe none)."""
        if self._reader is not None:
            self.done = self._reader.feed(data)
            return b""
        self._head += data
        if not self._status:
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return b""
            head, rest = self._head[:end].decode("latin-1"), self._head[end + 4 :]
            status_line, *fields = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
            try:
                self._status = int(status_line.split(" ")[1])
            except (IndexError, ValueError):
                raise InvalidResponseError("invalid_response", f"{self.where} answered {status_line[:100]!r}, not HTTP", 0) from None
            if self._status == 101:
                if headers.get("sec-websocket-accept") != self._accept:
                    raise InvalidResponseError("invalid_response", f"{self.where} did not accept the WebSocket key", 101)
                self._reader = FrameReader(self.where)
                self.done = self._reader.feed(rest)
                return self._frames
            self._body_length = int(headers.get("content-length") or 0)
            self._head = rest
        if len(self._head) >= self._body_length:
            raise self._refusal()
        return b""

    def eof(self) -> None:
        """The daemon closed the connection: done after the switch, else its refusal or a cut."""
        if self._reader is not None:
            self.done = True
            return
        if self._status:
            raise self._refusal()
        raise NetworkError("network_error", f"{self.where} was closed before it answered; did the daemon end?", 0)

    def _refusal(self) -> PaddockError:
        try:
            body: object = json.loads(self._head[: self._body_length] or b"null")
        except ValueError:
            body = None
        return error_from_body(self._status, body)
