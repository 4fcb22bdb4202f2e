"""A room-socket client that behaves as docs/protocol.md asks a real client to.

It signs in with a session cookie, keeps every message it has seen by `seq`, retries a send
until its echo (or the message itself, in history) comes back, fills gaps with
`history.fetch` when a `seq` jumps or a `heartbeat`/`pong` tells of a later `last_seq`, and
reconnects with `?after=<last contiguous seq>` when its socket closes: to the same server,
or, when it closed with 4012 (the server is restarting), at once (with a little random
delay) to the next of the servers it was given. Tests read what it saw; the benchmark
harness may drive many of them.

    async with RoomClient(base_url, room_id, cookie) as client:
        client_id = await client.send("hello")
        await client.wait_acked()
        await client.catch_up()
        assert client.seqs == [1]
"""

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# Close codes after which a client stops: not signed in, not a member, no such room.
REFUSED = (4401, 4403, 4404)
# Close code after which a client moves to another server at once: this one is restarting.
RESTARTING = 4012


def room_socket(base_url: str, room_id: int, cookie: str, query: str = "", **options):
    """An `async with` WebSocket connection to a room, signed in by `cookie`, with the
    Origin header of the server itself (the origin check wants an allowed host)."""
    url = base_url.replace("http", "ws", 1) + f"/ws/rooms/{room_id}/"
    if query:
        url += f"?{query}"
    options.setdefault("open_timeout", 5)
    options.setdefault("close_timeout", 2)
    return connect(
        url,
        origin=base_url,
        additional_headers={"Cookie": cookie},
        compression=None,  # what goes over the wire is what the test sends
        proxy=None,
        **options,
    )


@dataclass
class _Send:
    client_id: str
    body: str
    next_try: float = 0.0
    attempts: int = 0


class RoomClient:
    """One resilient connection to a room.

    retry_after: seconds without an echo before a send is repeated (same `client_id`).
    fetch_timeout: seconds before an unanswered `history.fetch` is asked again.
    ping_every: seconds between `ping` frames (None: rely on the server's heartbeat).
    reconnect_delay: seconds between attempts to reconnect.
    others: more servers' base URLs; closed with 4012, the client moves to the next one.
    restart_jitter: at most this many seconds (at random) before reconnecting after 4012,
        so a restarting server's clients do not all arrive elsewhere at once.
    """

    def __init__(
        self,
        base_url: str,
        room_id: int,
        cookie: str,
        *,
        label: str = "",
        retry_after: float = 2.0,
        fetch_timeout: float = 2.0,
        ping_every: float | None = None,
        reconnect_delay: float = 0.3,
        others: Sequence[str] = (),
        restart_jitter: float = 0.5,
    ):
        self.base_urls = [base_url, *others]
        self.base_url = base_url  # the server it connects to now
        self.room_id = room_id
        self.cookie = cookie
        self.label = label or base_url
        self.retry_after = retry_after
        self.fetch_timeout = fetch_timeout
        self.ping_every = ping_every
        self.reconnect_delay = reconnect_delay
        self.restart_jitter = restart_jitter

        self.messages: dict[int, dict] = {}  # seq -> message, as first seen
        self.contiguous = 0  # every seq up to this one is held: what a client shows
        self.known_last = 0  # the highest seq the server has told of
        self.live: list[int] = []  # the seq of every message.new, duplicates included
        self.sent: list[str] = []  # every client_id this client sent, in order
        self.acked: dict[str, int] = {}  # client_id -> seq, once seen stored
        self.acked_at: dict[str, float] = {}  # client_id -> time.monotonic() of that
        self.pending: dict[str, _Send] = {}
        self.resends = 0  # sends repeated for want of an echo
        self.fetches = 0  # history.fetch frames sent to fill gaps
        self.failed: dict[str, dict] = {}  # client_id -> the error frame that refused it
        self.errors: list[dict] = []
        self.foreign: list[dict] = []  # messages of another room (never expected)
        self.state: dict | None = None  # the last room.state
        self.online: list[dict] = []
        self.presence: list[list[dict]] = []  # every presence frame's list, in order
        self.connections = 0  # sockets opened (1 + reconnections)
        self.close_codes: list[int | None] = []
        self.closed_at: list[float] = []  # time.monotonic() of each close, as close_codes
        self.connects: list[tuple[str, str, float]] = []  # (base URL, query, time) of each
        self.refused: int | None = None  # a close code of REFUSED: no more reconnecting
        self.pongs: set[str] = set()

        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._loop_task: asyncio.Task | None = None
        self._fetch_sent_at: float | None = None
        self._next_connect = 0.0
        self._last_ping = 0.0
        self._stopping = False
        self._changed = asyncio.Event()

    # Life cycle ------------------------------------------------------------------------

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def start(self, timeout: float = 10.0) -> None:
        """Connect (retrying until `timeout`) and keep the connection up until close()."""
        deadline = time.monotonic() + timeout
        while not await self._connect():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.label}: could not connect within {timeout:g} s")
            await asyncio.sleep(self.reconnect_delay)
        await self.wait_for(
            lambda: self.state is not None or self.close_codes,
            max(0.0, deadline - time.monotonic()),
            "room.state",
        )
        if self.state is None:
            raise ConnectionError(f"{self.label}: refused, close code {self.close_codes[0]}")
        self._loop_task = asyncio.create_task(self._maintain())

    async def close(self) -> None:
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()  # the reader sees the close and ends
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5)

    async def drop(self) -> None:
        """Cut the connection as a network failure would (no closing handshake); the
        client reconnects by itself."""
        ws = self._ws
        if ws is not None:
            ws.transport.abort()
            await self.wait_for(lambda: self._ws is not ws, 5, "the cut socket to close")

    @property
    def connected(self) -> bool:
        return self._ws is not None

    # What tests read -------------------------------------------------------------------

    @property
    def seqs(self) -> list[int]:
        return sorted(self.messages)

    @property
    def shown(self) -> list[int]:
        """What a client shows: the contiguous run from 1, never a later one past a gap."""
        return list(range(1, self.contiguous + 1))

    def summary(self) -> str:
        errors = Counter(error["code"] for error in self.errors)
        return (
            f"{self.label}: sent {len(self.sent)}, resent {self.resends}, held "
            f"{len(self.messages)} (to {self.contiguous}), live {len(self.live)}, fetches "
            f"{self.fetches}, connections {self.connections}, closes {self.close_codes}, "
            f"errors {dict(errors)}"
        )

    @property
    def online_ids(self) -> set[int]:
        return {person["id"] for person in self.online}

    async def wait_for(self, predicate, timeout: float, what: str = "a condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.label}: no {what} within {timeout:g} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))

    # Sending ---------------------------------------------------------------------------

    async def send(self, body: str) -> str:
        """Send a message; it is retried until stored. Returns its client_id."""
        client_id = uuid.uuid4().hex
        self.sent.append(client_id)
        pending = _Send(client_id, body)
        self.pending[client_id] = pending
        await self._try_send(pending)
        return client_id

    async def wait_acked(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: not self.pending, timeout, "acknowledgement of every send")

    async def catch_up(self, timeout: float = 10.0) -> None:
        """Ask the room's last seq (ping) and fetch until every message up to it is held."""
        request_id = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        while request_id not in self.pongs:
            if self._ws is not None:
                await self._send_frame({"type": "ping", "request_id": request_id})
            with contextlib.suppress(TimeoutError):
                await self.wait_for(
                    lambda: request_id in self.pongs,
                    min(1.0, max(0.01, deadline - time.monotonic())),
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.label}: no pong within {timeout:g} s")
        await self.wait_for(
            lambda: self.contiguous >= self.known_last,
            max(0.0, deadline - time.monotonic()),
            f"catch-up to seq {self.known_last} (holding {self.contiguous})",
        )

    async def _try_send(self, pending: _Send) -> None:
        pending.next_try = time.monotonic() + self.retry_after
        frame = {"type": "message.send", "body": pending.body, "client_id": pending.client_id}
        if await self._send_frame(frame):
            pending.attempts += 1
            self.resends += pending.attempts > 1

    async def _send_frame(self, frame: dict) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    # Receiving -------------------------------------------------------------------------

    async def _connect(self) -> bool:
        # A reconnection resumes after the last contiguous seq: no gap, no duplicate.
        query = f"after={self.contiguous}" if self.connections else ""
        try:
            ws = await room_socket(self.base_url, self.room_id, self.cookie, query)
        except Exception:  # refused, timed out, or the server is down: try again later
            return False
        self.connections += 1
        self.connects.append((self.base_url, query, time.monotonic()))
        self._ws = ws
        self._fetch_sent_at = None
        self._reader = asyncio.create_task(self._read(ws))
        return True

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                await self._on_frame(json.loads(raw))
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_codes.append(ws.close_code)
            self.closed_at.append(time.monotonic())
            if ws.close_code in REFUSED:
                self.refused = ws.close_code
            if self._ws is ws:
                self._ws = None
            if ws.close_code == RESTARTING:
                at = (self.base_urls.index(self.base_url) + 1) % len(self.base_urls)
                self.base_url = self.base_urls[at]
                self._next_connect = time.monotonic() + random.uniform(0, self.restart_jitter)
            else:
                self._next_connect = time.monotonic() + self.reconnect_delay
            self._changed.set()

    async def _on_frame(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "room.state":
            self.state = frame
            self.online = frame["online"]
            self._told_last(frame["last_seq"])
        elif kind == "history":
            for message in frame["messages"]:
                self._hold(message)
            if frame["has_more"] and frame["messages"]:
                self._told_last(frame["messages"][-1]["seq"] + 1)
            if "after" in frame:
                self._fetch_sent_at = None  # the answer to our fetch
        elif kind == "message.new":
            self.live.append(frame["message"]["seq"])
            self._told_last(frame["message"]["seq"])
            self._hold(frame["message"])
        elif kind in ("heartbeat", "pong"):
            self._told_last(frame["last_seq"])
            if kind == "pong" and "request_id" in frame:
                self.pongs.add(frame["request_id"])
        elif kind == "presence":
            self.online = frame["online"]
            self.presence.append(frame["online"])
        elif kind == "error":
            self._on_error(frame)
        await self._fetch_if_behind()

    def _hold(self, message: dict) -> None:
        if message["room"] != self.room_id:
            self.foreign.append(message)
            return
        self.messages.setdefault(message["seq"], message)
        while self.contiguous + 1 in self.messages:
            self.contiguous += 1
        # Stored, whether the echo or history said so: no more retries.
        mine = self.state is not None and message["author"]["id"] == self.state["you"]["id"]
        if mine and self.pending.pop(message["client_id"], None) is not None:
            self.acked[message["client_id"]] = message["seq"]
            self.acked_at[message["client_id"]] = time.monotonic()

    def _told_last(self, seq: int) -> None:
        self.known_last = max(self.known_last, seq)

    def _on_error(self, frame: dict) -> None:
        self.errors.append(frame)
        pending = self.pending.get(frame.get("client_id", ""))
        if pending is None:
            return
        if frame["code"] in ("rate_limited", "overloaded"):
            # Not stored; docs/protocol.md: send it again (same client_id) after retry_after.
            pending.next_try = time.monotonic() + float(frame.get("retry_after", 1))
        elif frame["code"] == "server_error":
            pending.next_try = time.monotonic() + 0.2
        else:  # refused for good (too long, not a member...): no retry helps
            self.failed[pending.client_id] = frame
            del self.pending[pending.client_id]

    async def _fetch_if_behind(self) -> None:
        if self.known_last <= self.contiguous or self._ws is None:
            return
        now = time.monotonic()
        if self._fetch_sent_at is not None and now - self._fetch_sent_at < self.fetch_timeout:
            return  # one fetch at a time
        self._fetch_sent_at = now
        self.fetches += 1
        await self._send_frame({"type": "history.fetch", "after": self.contiguous, "limit": 100})

    # Keeping up ------------------------------------------------------------------------

    async def _maintain(self) -> None:
        while not self._stopping:
            now = time.monotonic()
            if self._ws is None:
                if self.refused is not None:
                    return
                if now >= self._next_connect and not await self._connect():
                    self._next_connect = time.monotonic() + self.reconnect_delay
            else:
                for pending in list(self.pending.values()):
                    if pending.next_try <= now and pending.client_id in self.pending:
                        await self._try_send(pending)
                if self.ping_every is not None and now - self._last_ping >= self.ping_every:
                    self._last_ping = now
                    await self._send_frame({"type": "ping"})
                await self._fetch_if_behind()
            await asyncio.sleep(0.05)
