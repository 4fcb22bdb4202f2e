"""A client that asks and never reads costs the server a bounded amount, and is closed
after LIVE_SLOW_CLIENT_SECONDS even in a room where nobody talks; everyone else is served
meanwhile. Against the real server (Daphne): only it has the transport whose buffer the
layer watches."""

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import database_url_for_tests, run_daphne_process
from tests.factories import MembershipFactory, MessageFactory, RoomFactory
from tests.rooms.conftest import session_cookie
from tests.rooms.test_slow_clients import small_buffer_socket
from tests.rooms.wsclient import room_socket

pytestmark = pytest.mark.asyncio

SLOW_SECONDS = 3
BODY = "\N{GRINNING FACE}" * 4000  # 16 KB of UTF-8: four fill a 64 KB history page


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def world(transactional_db, tmp_path):
    room = RoomFactory()
    asker, other = (MembershipFactory(community=room.community).user for _ in range(2))
    for _ in range(40):
        MessageFactory(room=room, author=other, body=BODY)
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "LIVE_SLOW_CLIENT_SECONDS": str(SLOW_SECONDS),
        "LIVE_FRAMES_MAX": "100000",
    }
    with run_daphne_process(tmp_path / "daphne.log", **env) as (base, process):
        yield {
            "base": base,
            "pid": process.pid,
            "room": room.pk,
            "asker": session_cookie(asker),
            "other": session_cookie(other),
        }


async def first_frames(ws) -> None:
    assert json.loads(await ws.recv())["type"] == "room.state"
    assert json.loads(await ws.recv())["type"] == "history"


async def ask_forever(ws) -> int:
    """Send history requests as fast as the server takes them; how many went out."""
    sent = 0
    with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
        while True:
            await ws.send(json.dumps({"type": "history.fetch", "before": 41, "limit": 100}))
            sent += 1
    return sent


async def test_a_client_that_asks_and_never_reads_is_bounded_and_closed(world):
    base, room = world["base"], world["room"]
    async with (
        room_socket(
            base, room, world["asker"], sock=small_buffer_socket(base), max_queue=1
        ) as asker,
        room_socket(base, room, world["other"]) as other,
    ):
        await first_frames(asker)
        await first_frames(other)
        await asyncio.sleep(0.5)
        before = rss_kb(world["pid"])
        asking = asyncio.create_task(ask_forever(asker))
        # Meanwhile the room is quiet, and another member is served: ping, pong.
        pongs = 0
        started = time.monotonic()
        while time.monotonic() - started < SLOW_SECONDS + 3:
            await other.send(json.dumps({"type": "ping"}))
            while json.loads(await asyncio.wait_for(other.recv(), 5))["type"] != "pong":
                pass
            pongs += 1
            await asyncio.sleep(0.2)
        grown = rss_kb(world["pid"]) - before
        asking.cancel()
        sent = await asking
        # The asker reads at last: what waited for it, then the end of the connection.
        deadline = time.monotonic() + 20
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() < deadline:
                await asyncio.wait_for(asker.recv(), 5)

    assert sent > 50  # it did ask, more than the server answered
    assert grown < 8 * 1024  # KB: what it asked for (MBs of history) never piled up
    assert pongs >= SLOW_SECONDS * 3
    # Closed by the server although nobody talked: the close frame reached it (4408), or
    # the server dropped the connection after its close handshake timed out (1006).
    assert closed.value.rcvd is None or closed.value.rcvd.code == 4408
