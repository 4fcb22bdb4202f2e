"""Load shedding for a client that stops reading, against the real server (Daphne).

The server must not queue without bound for it, must not hold up the room, must tell it
when it reads again (`slow_client`), and must close it (4408) when it stays stuck. Only a
real Daphne has the transport whose buffer the server watches.
"""

import asyncio
import contextlib
import json
import socket
import time

import pytest
from websockets.exceptions import ConnectionClosed

from live.consumers import CAUGHT_UP_SECONDS
from rooms.models import Message
from tests.conftest import database_url_for_tests, run_daphne
from tests.factories import MembershipFactory, RoomFactory
from tests.rooms.conftest import session_cookie
from tests.rooms.wsclient import room_socket

# The largest body, 16 KB a frame in UTF-8. Linux lets the server's socket buffer grow to
# 4 MB (tcp_wmem) before Twisted's own buffer starts to fill: 400 of them are 6.4 MB.
BODY = "\N{GRINNING FACE}" * 4000
MESSAGES = 400

pytestmark = pytest.mark.asyncio


@contextlib.contextmanager
def _world(tmp_path, slow_client_seconds: float):
    room = RoomFactory()
    sender, reader = (MembershipFactory(community=room.community).user for _ in range(2))
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "ROOM_RATE_LIMIT_MESSAGES": "100000",
        "LIVE_FRAMES_MAX": "100000",
        "LIVE_SLOW_CLIENT_SECONDS": str(slow_client_seconds),
    }
    with run_daphne(tmp_path / "daphne.log", **env) as base:
        yield {
            "base": base,
            "room": room.pk,
            "sender": session_cookie(sender),
            "reader": session_cookie(reader),
        }


@pytest.fixture
def slow_world(transactional_db, tmp_path):
    """A reader that falls behind for a while is not closed (the burst may take a few
    seconds to send on a busy machine)."""
    with _world(tmp_path, 120) as world:
        yield world


@pytest.fixture
def stuck_world(transactional_db, tmp_path):
    with _world(tmp_path, 3) as world:
        yield world


def small_buffer_socket(base: str) -> socket.socket:
    """A connected TCP socket whose receive buffer is tiny, so that when the test stops
    reading, the server's side fills up at once instead of after megabytes."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def first_frames(ws) -> None:
    """room.state, then the history page."""
    assert json.loads(await ws.recv())["type"] == "room.state"
    assert json.loads(await ws.recv())["type"] == "history"


async def send_all(ws, count: int) -> float:
    """Send `count` big messages without waiting for their echoes, reading them as they
    come (a sender that reads nothing until it is done is a slow client itself: the server
    stops reading it while its frames wait); the seconds until the last echo came back."""
    started = time.monotonic()

    async def send() -> None:
        for n in range(count):
            await ws.send(json.dumps({"type": "message.send", "body": BODY, "client_id": f"m{n}"}))

    sending = asyncio.create_task(send())
    echoed = set()
    while len(echoed) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] == "message.new":
            echoed.add(frame["message"]["client_id"])
        assert frame["type"] != "error", frame
    await sending
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def sender_and_reader(world):
    """Two members in the room, past their first frames: one sending, one whose socket's
    receive buffer is tiny (it reads only when the test says so)."""
    base, room = world["base"], world["room"]
    async with (
        room_socket(base, room, world["sender"]) as sender,
        room_socket(
            base, room, world["reader"], sock=small_buffer_socket(base), max_queue=1
        ) as reader,
    ):
        await first_frames(sender)
        await first_frames(reader)
        yield sender, reader


async def test_a_client_that_stops_reading_is_skipped_told_and_can_catch_up(slow_world):
    room = slow_world["room"]
    async with sender_and_reader(slow_world) as (sender, reader):
        # The reader stops reading; the sender goes on.
        took = await send_all(sender, MESSAGES)
        # The reader reads again: what waited for it (the kernel's buffers, and at most
        # 64 KB more each time the server noticed it fell behind), with a slow_client
        # error each time it caught up.
        received = await read_until_quiet(reader, quiet=CAUGHT_UP_SECONDS + 1)
        await sender.send(json.dumps({"type": "message.send", "body": "after", "client_id": "z"}))
        received += await read_until_quiet(reader)
        held = [f["message"]["seq"] for f in received if f["type"] == "message.new"]
        first_gap = next(n - 1 for n, seq in enumerate(held, 1) if seq != n)
        # It fills a gap from history, as the protocol asks.
        await reader.send(json.dumps({"type": "history.fetch", "after": first_gap, "limit": 5}))
        missing = await read_until_quiet(reader)

    errors = [f for f in received if f["type"] == "error"]
    assert errors and {e["code"] for e in errors} == {"slow_client"}
    skipped = sum(e["skipped"] for e in errors)
    assert held == sorted(set(held))  # in order, no duplicate
    assert len(held) < MESSAGES  # the server did not buffer everything for it
    assert len(held) + skipped >= MESSAGES + 1  # and told it of every frame it left out
    assert held[-1] == MESSAGES + 1  # live again
    # 16 KB messages: the page is cut to what fits in one 64 KB frame; the rest is to fetch.
    [page] = [f for f in missing if f["type"] == "history"]
    seqs = [m["seq"] for m in page["messages"]]
    assert seqs == list(range(first_gap + 1, first_gap + 1 + len(seqs)))
    assert 0 < len(seqs) < 5 and page["has_more"] is True
    assert took < 30  # the sender was served all along
    assert await Message.objects.filter(room_id=room).acount() == MESSAGES + 1


async def read_until_quiet(ws, quiet: float = 1.0) -> list[dict]:
    frames = []
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except TimeoutError:
            return frames


async def test_a_client_that_stays_stuck_is_closed_with_4408(stuck_world):
    async with sender_and_reader(stuck_world) as (sender, reader):
        await send_all(sender, MESSAGES)
        # The room goes on talking while the reader stays stuck for longer than
        # LIVE_SLOW_CLIENT_SECONDS (3): the server closes it.
        for n in range(12):
            await sender.send(
                json.dumps({"type": "message.send", "body": BODY, "client_id": f"z{n}"})
            )
            await asyncio.sleep(0.5)
        deadline = time.monotonic() + 15
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() < deadline:
                await asyncio.wait_for(reader.recv(), 5)

    # Either the close frame reached it (4408) or the server dropped the TCP connection
    # after its close handshake timed out (no close frame: 1006).
    assert closed.value.rcvd is None or closed.value.rcvd.code == 4408
