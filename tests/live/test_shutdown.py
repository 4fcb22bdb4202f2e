"""A server process told to stop (SIGTERM, as a deploy or systemd does) hands its clients
to another process and loses nothing.

On SIGTERM a process stops accepting, closes its sockets with 4012 ("the server is
restarting: reconnect now, to another server, with a little random delay"), lets the
events already committed go out, and exits within 10 seconds. Its clients resume from
their last seq on another process: every acknowledged message is stored once and every
client ends up holding the room's messages, each once, in seq order.

Real parts: two Daphne processes on a shared PostgreSQL database and Redis, real WebSocket
clients (tests/rooms/wsclient.py), the processes and fixtures of tests/processes.py.
"""

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections import Counter

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.processes import (
    check_clients_hold_the_room,
    server_env,
    servers,
    stored_messages,
    wait_everyone_left,
)
from tests.rooms.wsclient import RESTARTING, RoomClient, room_socket

EXIT_WITHIN = 10.0  # seconds from SIGTERM to the process's exit, at most
GIVE_UP_AFTER = 15.0  # then the test kills the process itself, and fails
SEND_EVERY = 0.05  # seconds between two messages of one client
# A client with this many messages not yet acknowledged waits before sending more: the
# load follows what the machine (2 cores, shared) can serve, and retries do not pile up.
MAX_PENDING = 10

# The live layer's per-socket frame and per-user action limits, out of the way as well.
LIMITS_OFF = {
    "LIVE_FRAMES_MAX": "100000",
    "LIVE_FRAMES_SECONDS": "10",
    "LIVE_ACTIONS_MAX": "100000",
}


async def keep_sending(client: RoomClient, stop: asyncio.Event) -> None:
    """One message every SEND_EVERY seconds (at most MAX_PENDING unacknowledged), each
    with its own client_id, retried by the client until acknowledged (also across its
    reconnection)."""
    n = 0
    while not stop.is_set():
        if len(client.pending) < MAX_PENDING:
            await client.send(f"{client.label} {n}")
            n += 1
        await asyncio.sleep(SEND_EVERY)


async def knock(base_url: str, room_id: int, cookie: str) -> str:
    """What a new connection to the server gets: "refused" (the TCP connection is),
    "HTTP <status>" (the handshake is), "closed <code>" (accepted, then closed before any
    frame), "accepted (<first frame's type>)", or "timed out"."""
    try:
        async with room_socket(base_url, room_id, cookie, open_timeout=3) as ws:
            try:
                first = json.loads(await asyncio.wait_for(ws.recv(), 3))
            except ConnectionClosed:
                return f"closed {ws.close_code}"
            except TimeoutError:
                return "accepted (then nothing)"
            return f"accepted ({first.get('type')})"
    except InvalidStatus as error:
        return f"HTTP {error.response.status_code}"
    except TimeoutError:
        return "timed out"
    except (OSError, InvalidHandshake):
        return "refused"


async def exit_time(process: subprocess.Popen, since: float) -> float | None:
    """Seconds from `since` until `process` exits by itself; None if it is still running
    GIVE_UP_AFTER seconds after `since` (it is killed then)."""
    while process.poll() is None:
        if time.monotonic() - since > GIVE_UP_AFTER:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
            return None
        await asyncio.sleep(0.05)
    return time.monotonic() - since


def seen(client: RoomClient) -> str:
    """What a client went through, for the failure message."""
    start = client.connects[0][2]
    connects = [
        (url.rsplit(":", 1)[-1], query, round(t - start, 2)) for url, query, t in client.connects
    ]
    closes = [
        (code, round(t - start, 2))
        for code, t in zip(client.close_codes, client.closed_at, strict=True)
    ]
    return f"{client.summary()}; connects (port, query, s) {connects}; closes (code, s) {closes}"


@pytest.fixture
def world_of_six(world_of):
    """A fresh room with six signed-in members (seeded outside the event loop)."""
    return world_of(6)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.asyncio
async def test_sigterm_hands_clients_to_another_process_and_loses_nothing(
    world_of_six, redis_url, tmp_path
):
    # Arrange: two processes, six members each with one client, three on each process.
    world = world_of_six
    people, room = world["members"], world["room"]
    env = server_env(world, redis_url, **LIMITS_OFF)
    with servers(tmp_path, 2, **env) as [(a, process_a), (b, _process_b)]:
        on_a = [
            RoomClient(a, room, person["cookie"], others=[b], label=f"{person['name']} on A")
            for person in people[:3]
        ]
        on_b = [
            RoomClient(b, room, person["cookie"], others=[a], label=f"{person['name']} on B")
            for person in people[3:]
        ]
        clients = on_a + on_b
        async with contextlib.AsyncExitStack() as stack:
            for client in clients:
                await stack.enter_async_context(client)
            stop = asyncio.Event()
            senders = [asyncio.create_task(keep_sending(client, stop)) for client in clients]
            try:
                await asyncio.sleep(2)

                # Act: SIGTERM to A while everyone sends.
                process_a.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                exiting = asyncio.create_task(exit_time(process_a, signalled))
                await asyncio.sleep(0.5)  # time for A to take the signal in
                newcomer = await knock(a, room, people[0]["cookie"])
                newcomer_while_running = process_a.poll() is None
                exited_after = await exiting
                # Sending goes on a little on B, A's clients included.
                await asyncio.sleep(1)
            finally:
                stop.set()
                await asyncio.gather(*senders)
            report = "\n".join(
                [
                    f"A exited {round(exited_after, 2)} s after SIGTERM"
                    if exited_after is not None
                    else f"A was still running {GIVE_UP_AFTER:g} s after SIGTERM (killed)",
                    f"A's exit code {process_a.returncode}",
                    f"a new connection to A 0.5 s after SIGTERM: {newcomer} "
                    f"(A {'still running' if newcomer_while_running else 'gone'} by then)",
                    *(seen(client) for client in clients),
                ]
            )
            print(report)

            # Assert: A went by itself, in time, and let no one new in meanwhile.
            assert exited_after is not None, f"A did not exit within {GIVE_UP_AFTER:g} s"
            assert exited_after <= EXIT_WITHIN
            assert newcomer in ("refused", f"closed {RESTARTING}")

            for client in clients:
                await client.wait_acked(20)
                await client.catch_up(10)
            await asyncio.sleep(0.5)  # a duplicate would have come by now
            close_codes = {client.label: list(client.close_codes) for client in clients}
            connects = {
                client.label: [(url, query) for url, query, _t in client.connects]
                for client in clients
            }
            resumed_after = {
                client.label: client.connects[1][1] if len(client.connects) > 1 else None
                for client in on_a
            }
        await wait_everyone_left(world["database"], room)

    # A's clients were told to go (4012, not a dropped connection), went to B at once and
    # resumed after what they held; B's clients never noticed.
    for client in on_a:
        assert close_codes[client.label] == [RESTARTING], seen(client)
        assert resumed_after[client.label].startswith("after="), seen(client)
        assert connects[client.label] == [(a, ""), (b, resumed_after[client.label])], seen(client)
        assert client.closed_at[0] - signalled < EXIT_WITHIN, seen(client)
        assert client.connects[1][2] - client.closed_at[0] < 3, seen(client)
    for client in on_b:
        assert close_codes[client.label] == [], seen(client)
        assert connects[client.label] == [(b, "")], seen(client)

    # Nothing acknowledged was lost, nothing stored twice, no gap; everyone holds it all.
    stored = stored_messages(world["database"], room)
    total = len(stored)
    assert [seq for seq, _c, _a in stored] == list(range(1, total + 1))
    sent = [client_id for client in clients for client_id in client.sent]
    assert total == len(sent)
    assert Counter(client_id for _s, client_id, _a in stored) == Counter(sent)
    by_client_id = {client_id: seq for seq, client_id, _a in stored}
    for client in clients:
        assert client.acked == {client_id: by_client_id[client_id] for client_id in client.sent}
        assert not client.failed, client.label
    check_clients_hold_the_room(clients, stored)
    # What A committed before it went still went out: B's clients, never disconnected, had
    # every message live (a lost event would show as a seq they had to fetch).
    for client in on_b:
        assert set(client.live) == set(range(1, total + 1)), client.label
