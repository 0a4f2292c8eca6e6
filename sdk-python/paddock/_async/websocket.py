"""A one-message WebSocket exchange (paddock/_websocket.py) over an asyncio connection; the
sync client's is a blocking socket (paddock/_sync/websocket.py, hand-written)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from .._websocket import TIMEOUT_SECONDS, OneMessage
from ..errors import NetworkError


async def send_one_message(url: str, token: str | None, path: str, query: dict[str, str], message: Any) -> None:
    exchange = OneMessage(url, token, path, query, message)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            context = ssl.create_default_context() if exchange.tls else None
            reader, writer = await asyncio.open_connection(exchange.host, exchange.port, ssl=context)
            try:
                writer.write(exchange.request)
                while not exchange.done:
                    data = await reader.read(64 * 1024)
                    if not data:
                        exchange.eof()
                        break
                    reply = exchange.feed(data)
                    if reply:
                        writer.write(reply)
                        await writer.drain()
            finally:
                writer.close()
    except (OSError, TimeoutError) as err:
        raise NetworkError("network_error", f"cannot use {exchange.where} at {url}: {err!r}. Is `paddock serve` running?", 0) from err
