"""HTTP transports with TCP_NODELAY. httpcore writes a request's headers and its body in two
writes; without TCP_NODELAY the body waits for the daemon's delayed ACK of the headers, which
cost 40 ms on every POST here (an exec took 45 ms instead of 5). The async side connects
through anyio, which sets TCP_NODELAY itself."""

from __future__ import annotations

import importlib
import socket
from typing import Any

import httpx

NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def sync_transport() -> httpx.HTTPTransport:
    try:
        # httpx 0.24 and newer take socket options.
        options: dict[str, Any] = {"socket_options": NODELAY}
        return httpx.HTTPTransport(**options)
    except TypeError:
        pass
    # httpx 0.23 (Debian 12's) does not: its pool is given a backend that sets the option.
    import httpcore

    sync_backend: Any = importlib.import_module("httpcore.backends.sync").SyncBackend

    class NoDelayBackend(sync_backend):  # type: ignore[misc]
        def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            stream = super().connect_tcp(*args, **kwargs)
            sock = stream.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(*NODELAY[0])
            return stream

    transport = httpx.HTTPTransport()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
    transport._pool = httpcore.ConnectionPool(
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=NoDelayBackend(),
    )
    return transport


def async_transport() -> httpx.AsyncHTTPTransport:
    return httpx.AsyncHTTPTransport()
