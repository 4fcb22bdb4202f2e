"""Scenario 6's slow clients: room members that complete the WebSocket handshake and then
never read again.

A plain socket, so that reading really stops (a WebSocket library would keep reading into
its own buffers). Before connecting it asks for a small receive buffer (SO_RCVBUF 4 KB)
and a small segment size (TCP_MAXSEG 1,000): with loopback's 64 KB segments the server's
send buffer grows to 4 MB (tcp_wmem) for a peer that does not read, which a moderate load
would not fill in a phase; with these the kernel holds about 150 KB for it, and whatever the
server keeps beyond that is in the server process.

While the phase runs the socket is only watched from outside, through /proc/net/tcp: its
state and the kernel's queues on both ends, so that the moment the server closes it (a FIN
queued behind unsent data, or a reset) is seen without reading. After the phase what did
arrive is read (for at most a couple of seconds) and its frames are looked at: an `error`
frame with code `slow_client`, a close frame and its code.
"""

import base64
import os
import select
import socket
import struct
import time
from urllib.parse import urlparse

from bench.measure import tcp_connections

RECEIVE_BUFFER = 4096
SEGMENT_SIZE = 1000


class SlowClient:
    def __init__(self, base_url: str, room: str, cookie: str):
        url = urlparse(base_url)
        self.host, self.server_port = url.hostname, url.port
        self.room = room
        self.cookie = cookie
        self.sock: socket.socket | None = None
        self.port = 0
        self.joined = False
        self.handshake_error = ""
        self.closed_at: float | None = None  # time.time() the server was seen closing it
        self.closed_how = ""
        self.samples: list[dict] = []

    def open(self, timeout: float = 10.0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SEGMENT_SIZE)
        sock.settimeout(timeout)
        sock.connect((self.host, self.server_port))
        self.sock = sock
        self.port = sock.getsockname()[1]
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws/rooms/{self.room}/ HTTP/1.1\r\n"
            f"Host: {self.host}:{self.server_port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Origin: http://{self.host}:{self.server_port}\r\n"
            f"Cookie: {self.cookie}\r\n"
            "\r\n"
        )
        sock.sendall(request.encode())
        # The response head only, a byte at a time: nothing after it is consumed.
        head = b""
        deadline = time.monotonic() + timeout
        while not head.endswith(b"\r\n\r\n") and time.monotonic() < deadline:
            byte = sock.recv(1)
            if not byte:
                break
            head += byte
        if not head.startswith(b"HTTP/1.1 101"):
            self.handshake_error = head.split(b"\r\n", 1)[0].decode(errors="replace")
            return
        # Joined once the room's first frame (room.state) is there: peeked, not read.
        ready, _, _ = select.select([sock], [], [], timeout)
        if ready:
            first = sock.recv(64, socket.MSG_PEEK)
            self.joined = b'"room.state"' in first
            if not self.joined:
                self.handshake_error = f"first frame {first[:40]!r}"

    # Watching without reading ------------------------------------------------------------

    def sample(self, table: dict, started: float) -> dict:
        """This connection in `table` (measure.tcp_connections): its state on both ends,
        and the bytes queued in the kernel (the server's send queue, our receive queue).
        Notes the first time the server is seen closing it."""
        ours = table.get((self.port, self.server_port))
        theirs = table.get((self.server_port, self.port))
        sample = {
            "t": round(time.time() - started, 2),
            "client_state": ours["state"] if ours else "gone",
            "server_state": theirs["state"] if theirs else "gone",
            "kernel_queued": (theirs["send_queue"] if theirs else 0)
            + (ours["receive_queue"] if ours else 0),
        }
        self.samples.append(sample)
        if self.closed_at is None and self.joined:
            if sample["client_state"] != "ESTABLISHED":
                # A reset, or a FIN that reached us (nothing was left to send before it).
                self.closed_at, self.closed_how = time.time(), sample["client_state"]
            elif sample["server_state"] != "ESTABLISHED":
                # The server closed its end: a FIN waits behind the data we do not read.
                self.closed_at, self.closed_how = time.time(), f"server {sample['server_state']}"
        return sample

    def finish(self, seconds: float = 2.0, limit: int = 64 << 20) -> dict:
        """After the phase: read what arrived (at most `seconds`), look for the server's
        slow-client error and close frame, then reset the connection."""
        result = {"bytes_read_after": 0, "eof": False, "reset": False}
        if self.sock is None:
            return result
        sock = self.sock
        data = bytearray()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # reading now: fast
        sock.setblocking(False)
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline and len(data) < limit:
                ready, _, _ = select.select([sock], [], [], min(0.2, deadline - time.monotonic()))
                if not ready:
                    continue
                chunk = sock.recv(1 << 20)
                if not chunk:
                    result["eof"] = True
                    break
                data += chunk
        except ConnectionResetError:
            result["reset"] = True
        except OSError as error:
            result["error"] = str(error)
        result["bytes_read_after"] = len(data)
        result.update(_frames(bytes(data)))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        self.sock = None
        return result

    def abort(self) -> None:
        if self.sock is not None:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def _frames(data: bytes) -> dict:
    """What the server's (unmasked) frames in `data` say: how many whole frames, the close
    frame's code, and whether an `error` frame had code slow_client. `data` starts at a
    frame boundary (right after the handshake's response head)."""
    frames, close_code, slow_error = 0, None, False
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        head = 2
        if length == 126:
            if at + 4 > len(data):
                break
            length, head = struct.unpack_from("!H", data, at + 2)[0], 4
        elif length == 127:
            if at + 10 > len(data):
                break
            length, head = struct.unpack_from("!Q", data, at + 2)[0], 10
        if at + head + length > len(data):
            break
        payload = data[at + head : at + head + length]
        frames += 1
        if opcode == 0x8:
            close_code = struct.unpack_from("!H", payload)[0] if length >= 2 else 1005
        elif opcode == 0x1 and b'"error"' in payload and b'"slow_client"' in payload:
            slow_error = True
        at += head + length
    return {"frames_read_after": frames, "close_code": close_code, "slow_client_error": slow_error}


def watch(clients: list[SlowClient], started: float) -> list[dict]:
    """One sample of every slow client (one read of /proc/net/tcp for all)."""
    if not clients:
        return []
    ports = {c.port for c in clients} | {c.server_port for c in clients}
    table = tcp_connections(ports)
    return [c.sample(table, started) for c in clients]
