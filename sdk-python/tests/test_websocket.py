"""The one-message WebSocket exchange (a terminal's resize) against a small in-process server
that speaks RFC 6455 as the daemon does: no daemon needed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import struct
import threading
from typing import Iterator

import pytest

import paddock
from paddock._async.http import AsyncHttp
from paddock._sync.http import Http
from paddock._websocket import FrameReader, client_frame

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def server_frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return struct.pack("!BB", 0x80 | opcode, len(payload)) + payload


def read_client_frame(conn: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            more = conn.recv(n - len(data))
            assert more, "the client closed mid-frame"
            data += more
        return data

    b0, b1 = exactly(2)
    assert b1 & 0x80, "a client's frames are masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", exactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", exactly(8))
    mask = exactly(4)
    return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(exactly(n)))


class Server:
    """Answers each connection as `reply` says: 'switch' (start event, then echo until close),
    'error' (a stream error message, then close) or 'refuse' (404 before the switch)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.received: list[tuple[int, bytes]] = []
        self.requests: list[str] = []
        self.heads: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        text = head.decode()
        self.requests.append(text.split("\r\n")[0])
        self.heads.append(text)
        if self.reply == "refuse":
            body = json.dumps({"error": {"code": "process_not_found", "message": "no process 7"}}).encode()
            conn.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            return
        key = next(l.split(":", 1)[1].strip() for l in text.split("\r\n") if l.lower().startswith("sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        switched = f"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n".encode()
        # Frames in the same write as the 101, as the daemon may send them: none may be lost.
        if self.reply == "error":
            error = json.dumps({"type": "error", "code": "sandbox_not_running", "message": "ended"}).encode()
            conn.sendall(switched + server_frame(1, error) + server_frame(8, struct.pack("!H", 1011)))
            return
        conn.sendall(switched + server_frame(1, b'{"type":"start","pid":7}'))
        while True:
            opcode, payload = read_client_frame(conn)
            self.received.append((opcode, payload))
            if opcode == 8:
                conn.sendall(server_frame(8, payload))
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    s = Server(request.param)
    yield s
    s.close()


@pytest.mark.parametrize("server", ["switch"], indirect=True)
def test_one_message_then_a_normal_close(server: Server) -> None:
    http = Http(server.url, "t")
    try:
        http.websocket_message("/v1/sandboxes/sb_1/processes/7/stream", {"type": "resize", "cols": 3, "rows": 4}, query={"output": "false"})
    finally:
        http.close()
    assert server.requests == ["GET /v1/sandboxes/sb_1/processes/7/stream?output=false HTTP/1.1"]
    assert "authorization: Bearer t" in server.heads[0]
    assert server.received == [(1, b'{"type": "resize", "cols": 3, "rows": 4}'), (8, struct.pack("!H", 1000))]

    async def main() -> None:
        ahttp = AsyncHttp(server.url, "t")
        try:
            await ahttp.websocket_message("/p", {"type": "closeStdin"})
        finally:
            await ahttp.aclose()

    asyncio.run(main())
    assert server.received[2:] == [(1, b'{"type": "closeStdin"}'), (8, struct.pack("!H", 1000))]


@pytest.mark.parametrize("server", ["error"], indirect=True)
def test_a_stream_error_is_raised_as_its_code(server: Server) -> None:
    http = Http(server.url, "t")
    try:
        with pytest.raises(paddock.SandboxNotRunningError, match="ended"):
            http.websocket_message("/p", {"type": "resize", "cols": 1, "rows": 1})
    finally:
        http.close()


@pytest.mark.parametrize("server", ["refuse"], indirect=True)
def test_a_refusal_before_the_switch_is_the_daemons_error(server: Server) -> None:
    http = Http(server.url, "t")
    try:
        with pytest.raises(paddock.ProcessNotFoundError, match="no process 7"):
            http.websocket_message("/p", {"type": "resize", "cols": 1, "rows": 1})
    finally:
        http.close()


def test_frames_of_every_length_round_trip() -> None:
    for size in (0, 125, 126, 65535, 65536):
        payload = bytes(i % 251 for i in range(size))
        frame = client_frame(2, payload)
        # Unmask as a server does, then read it back as one of the daemon's (unmasked) frames.
        at = 2 + {126: 2, 127: 8}.get(frame[1] & 0x7F, 0)
        mask, body = frame[at : at + 4], frame[at + 4 :]
        unmasked = bytes([frame[0], frame[1] & 0x7F]) + frame[2:at] + bytes(b ^ mask[i % 4] for i, b in enumerate(body))
        assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == payload
        reader = FrameReader("test")
        assert reader.feed(unmasked[:1]) is False and reader.feed(unmasked[1:]) is False
        assert reader.feed(server_frame(8, b"")) is True
