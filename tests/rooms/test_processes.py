"""The room socket across real server processes: Daphne in subprocesses, real WebSocket
clients, PostgreSQL shared by every process, Redis between them.

The processes need PostgreSQL even when the suite runs on SQLite: then this module gets a
PostgreSQL database of its own (tests/processes.py: migrated and seeded by subprocesses,
dropped after).
"""

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from websockets.exceptions import ConnectionClosed

from rooms.models import Message, Presence
from tests import services
from tests.processes import (
    check_clients_hold_the_room,
    manage_py,
    presence_rows,
    server_env,
    servers,
    stored_messages,
    wait_everyone_left,
)
from tests.rooms.conftest import session_cookie
from tests.rooms.wsclient import RoomClient, room_socket

# Processes --------------------------------------------------------------------------------


class OwnRedis:
    """A redis-server of the test's own on a free loopback port, to stop and start again.
    (The shared Redis is never touched.)"""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = services.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        log = (self.directory / "redis.log").open("a")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not services.tcp_reachable("127.0.0.1", self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis(tmp_path):
    services.need(services.redis_server_available(), "the redis-server program")
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


async def wait_healthy(base_urls: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all([await asyncio.to_thread(healthy, base) for base in base_urls]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"/healthz did not pass again within {timeout:g} s")
        await asyncio.sleep(0.2)


# 1. Several processes share a room --------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.asyncio
async def test_two_processes_share_a_room(world, redis_url, tmp_path):
    people = world["members"]
    room = world["room"]
    per_client = 5
    with servers(tmp_path, 2, **server_env(world, redis_url)) as [(a, _), (b, _)]:
        # Member 0 has a tab on each process; members 1 and 2 one each, on either side.
        placements = [(people[0], a), (people[0], b), (people[1], a), (people[2], b)]
        clients = [
            # No retry within the test: every echo must come through the channel layer.
            RoomClient(
                base, room, person["cookie"], label=f"{person['name']}@{base}", retry_after=60
            )
            for person, base in placements
        ]
        async with contextlib.AsyncExitStack() as stack:
            for client in clients:
                await stack.enter_async_context(client)
            everyone = {person["id"] for person in people}
            for client in clients:
                await client.wait_for(lambda c=client: c.online_ids == everyone, 5, "presence")

            async def talk(client: RoomClient) -> None:
                for n in range(per_client):
                    await client.send(f"{client.label} says {n}")
                    await asyncio.sleep(0.03)

            await asyncio.gather(*(talk(client) for client in clients))
            total = per_client * len(clients)
            for client in clients:
                await client.wait_acked(10)
                await client.wait_for(lambda c=client: c.contiguous >= total, 10, "every message")
            await asyncio.sleep(0.5)  # a duplicate would have come by now
        await wait_everyone_left(world["database"], room)

    for client in clients:
        print(client.summary())
    stored = stored_messages(world["database"], room)
    assert [seq for seq, _c, _a in stored] == list(range(1, total + 1))
    sent = [client_id for client in clients for client_id in client.sent]
    assert Counter(client_id for _s, client_id, _a in stored) == Counter(sent)
    check_clients_hold_the_room(clients, stored)
    for client in clients:
        # Every message.new reached every connection through the layer, once each. (Not
        # necessarily in seq order: two processes publish after their own commits; a client
        # shows them in order, as `shown` above checks.)
        assert sorted(client.live) == list(range(1, total + 1)), client.label
        assert client.connections == 1, client.label
        assert not client.errors, client.label


# 2. Redis trouble loses nothing -----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.asyncio
async def test_redis_outage_loses_nothing(world, own_redis, tmp_path):
    people = world["members"]
    room = world["room"]
    env = server_env(world, own_redis.url, LIVE_HEARTBEAT_SECONDS="1")
    with servers(tmp_path, 2, **env) as [(a, _), (b, _)]:
        clients = [
            RoomClient(a, room, people[0]["cookie"], label="A", retry_after=2, ping_every=1),
            RoomClient(b, room, people[1]["cookie"], label="B", retry_after=2, ping_every=1),
        ]
        async with clients[0], clients[1]:
            stop = asyncio.Event()

            async def keep_sending(client: RoomClient) -> None:
                n = 0
                while not stop.is_set():
                    await client.send(f"{client.label} {n}")
                    n += 1
                    await asyncio.sleep(0.1)

            senders = [asyncio.create_task(keep_sending(client)) for client in clients]
            try:
                await asyncio.sleep(1.5)
                await asyncio.to_thread(own_redis.stop)
                outage_began = time.monotonic()
                await asyncio.sleep(1)
                # A socket lost meanwhile comes back once it can, resuming with ?after.
                await clients[1].drop()
                await asyncio.sleep(4)
                await asyncio.to_thread(own_redis.start)
                outage_ended = time.monotonic()
                await asyncio.sleep(1.5)
            finally:
                stop.set()
                await asyncio.gather(*senders)
            for client in clients:
                await client.wait_acked(20)

            # The layer carries events again: new messages reach the other process live.
            await wait_healthy([a, b], 15)
            for sender, other in (clients, clients[::-1]):
                back = [await sender.send("back") for _ in range(3)]
                await sender.wait_acked(10)
                seqs = {sender.acked[client_id] for client_id in back}
                await other.wait_for(
                    lambda o=other, s=seqs: s <= set(o.live), 5, "live messages after the outage"
                )
            for client in clients:
                await client.catch_up(10)
            # The socket dropped during the outage left the room at once: one presence row
            # per open socket, not a ghost until the presence timeout.
            open_sockets = presence_rows(world["database"], room)
        await wait_everyone_left(world["database"], room)

    for client in clients:
        print(client.summary())
    print(f"outage {outage_ended - outage_began:.1f} s")
    stored = stored_messages(world["database"], room)
    total = len(stored)
    assert [seq for seq, _c, _a in stored] == list(range(1, total + 1))
    sent = [client_id for client in clients for client_id in client.sent]
    assert total == len(sent) > 100
    assert Counter(client_id for _s, client_id, _a in stored) == Counter(sent)
    check_clients_hold_the_room(clients, stored)
    by_client_id = {client_id: seq for seq, client_id, _a in stored}
    for client in clients:
        assert client.acked == {client_id: by_client_id[client_id] for client_id in client.sent}
        assert not client.failed, client.label
    # Sends went on being stored, and known to be, while Redis was away.
    assert any(outage_began < t < outage_ended for t in clients[0].acked_at.values())
    assert clients[0].connections == 1
    assert clients[1].connections >= 2  # resumed after its socket dropped
    assert open_sockets == 2


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.asyncio
async def test_during_a_redis_outage_a_users_first_socket_opens_in_a_served_room(
    world, own_redis, tmp_path
):
    """The process already serves the room: a newcomer's own group (for kicks and ended
    sessions) can wait for Redis; the socket opens (the heartbeat subscribes it later)."""
    people = world["members"]
    room = world["room"]
    with servers(tmp_path, 1, **server_env(world, own_redis.url)) as [(a, _)]:
        async with room_socket(a, room, people[0]["cookie"]) as first:
            assert json.loads(await first.recv())["type"] == "room.state"
            await asyncio.to_thread(own_redis.stop)
            async with room_socket(a, room, people[1]["cookie"]) as second:
                frames = [json.loads(await second.recv()) for _ in range(2)]
                await second.send(json.dumps({"type": "ping", "request_id": "p"}))
                pong = await receive_until(second, "pong")

    assert [f["type"] for f in frames] == ["room.state", "history"]
    assert pong["request_id"] == "p"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.asyncio
async def test_a_new_password_closes_the_users_sockets_on_every_process(world, redis_url, tmp_path):
    person = world["members"][0]
    room = world["room"]
    with servers(tmp_path, 2, **server_env(world, redis_url)) as [(a, _), (b, _)]:
        async with (
            room_socket(a, room, person["cookie"]) as on_a,
            room_socket(b, room, person["cookie"]) as on_b,
        ):
            for ws in (on_a, on_b):
                assert json.loads(await ws.recv())["type"] == "room.state"
            # Elsewhere (a management shell: no server process of its own).
            code = (
                "from accounts.models import User; "
                f"u = User.objects.get(pk={person['id']}); "
                "u.set_password('a-new-horse-battery'); u.save()"
            )
            await asyncio.to_thread(
                manage_py, world["database"], "shell", "-c", code, REDIS_URL=redis_url
            )
            codes = []
            for ws in (on_a, on_b):
                with pytest.raises(ConnectionClosed) as closed:
                    async with asyncio.timeout(5):
                        while True:
                            await ws.recv()
                codes.append(closed.value.rcvd.code)

    assert codes == [4401, 4401]


# 3. Frame size -------------------------------------------------------------------------


async def receive_until(ws, kind: str, timeout: float = 5) -> dict:
    """The next frame of type `kind`, passing others (e.g. presence)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


@pytest.fixture
def member_cookie(member):
    return session_cookie(member)


@pytest.mark.asyncio
async def test_frame_over_64kb_closes_with_1009(daphne_server, room, member_cookie):
    async with room_socket(daphne_server, room.pk, member_cookie) as ws:
        assert json.loads(await ws.recv())["type"] == "room.state"
        assert json.loads(await ws.recv())["type"] == "history"

        # Under Daphne's limit: the socket stays, the body is refused.
        near = {"type": "message.send", "body": "x" * 60_000, "client_id": "near"}
        await ws.send(json.dumps(near))
        error = await receive_until(ws, "error")
        assert (error["type"], error["code"], error["client_id"]) == (
            "error",
            "body_too_long",
            "near",
        )
        await ws.send(json.dumps({"type": "ping"}))
        await receive_until(ws, "pong")

        over = {"type": "message.send", "body": "x" * 70_000, "client_id": "over"}
        await ws.send(json.dumps(over))
        with pytest.raises(ConnectionClosed):
            await receive_until(ws, "never")
        assert ws.close_code == 1009
    assert await database_sync_to_async(Message.objects.filter(room=room).count)() == 0
    # Let the server finish with the closed socket before it is stopped.
    async with asyncio.timeout(5):
        while await database_sync_to_async(Presence.objects.filter(room=room).exists)():
            await asyncio.sleep(0.05)


# 4. Presence survives a killed process ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.asyncio
async def test_presence_drops_member_of_killed_process(world, redis_url, tmp_path):
    leaver, watcher = world["members"][:2]
    room = world["room"]
    env = server_env(world, redis_url, LIVE_HEARTBEAT_SECONDS="0.5", PRESENCE_TIMEOUT_SECONDS="2")
    with servers(tmp_path, 2, **env) as [(a, process_a), (b, _)]:
        watching = RoomClient(b, room, watcher["cookie"], label="watcher on B")
        # The watcher first: the member on A then arrives through the channel layer.
        async with watching, room_socket(a, room, leaver["cookie"]) as on_a:
            assert json.loads(await on_a.recv())["type"] == "room.state"
            await watching.wait_for(
                lambda: watching.online_ids == {leaver["id"], watcher["id"]},
                5,
                "the member on A online",
            )
            process_a.kill()  # kill -9: no disconnect, no goodbye
            process_a.wait(timeout=5)
            killed = time.monotonic()
            await watching.wait_for(
                lambda: watching.online_ids == {watcher["id"]}, 8, "the member on A gone"
            )
            gone_after = time.monotonic() - killed
        await wait_everyone_left(world["database"], room)
    assert watching.presence[-1] == [{"id": watcher["id"], "name": watcher["name"]}]
    assert watching.connections == 1
    assert gone_after < 6
