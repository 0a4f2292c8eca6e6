"""A one-message WebSocket exchange (paddock/_websocket.py) over a blocking socket; the async
client's is an asyncio connection (paddock/_async/websocket.py)."""

from __future__ import annotations

import socket
import ssl
from typing import Any

from .._websocket import TIMEOUT_SECONDS, OneMessage
from ..errors import NetworkError


def send_one_message(url: str, token: str | None, path: str, query: dict[str, str], message: Any) -> None:
    exchange = OneMessage(url, token, path, query, message)
    try:
        sock = socket.create_connection((exchange.host, exchange.port), timeout=TIMEOUT_SECONDS)
        if exchange.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=exchange.host)
        with sock:
            sock.sendall(exchange.request)
            while not exchange.done:
                data = sock.recv(64 * 1024)
                if not data:
                    exchange.eof()
                    break
                reply = exchange.feed(data)
                if reply:
                    sock.sendall(reply)
    except OSError as err:  # TimeoutError included
        raise NetworkError("network_error", f"cannot use {exchange.where} at {url}: {err!r}. Is `paddock serve` running?", 0) from err
