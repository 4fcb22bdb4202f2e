"""The process's room hub: one channel-layer subscription per room and process, typing,
presence coalesced per room, and refusing new messages past saturation."""

import asyncio
import time
from contextlib import AsyncExitStack

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from live.hub import PRESENCE_INTERVAL, live_hub
from rooms.models import Message
from tests.factories import MembershipFactory, RoomFactory
from tests.rooms.conftest import connected, receive, receive_until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

adb = database_sync_to_async


async def members(room, count: int) -> list:
    return [
        await adb(lambda: MembershipFactory(community=room.community).user)() for _ in range(count)
    ]


async def open_socket(stack, user, room_id):
    socket = await stack.enter_async_context(connected(user, room_id))
    connected_, _subprotocol = await socket.connect()
    assert connected_ is True
    assert (await receive(socket))["type"] == "room.state"
    assert (await receive(socket))["type"] == "history"
    return socket


async def frames_until_quiet(socket, quiet: float = 0.3) -> list[dict]:
    frames = []
    while not await socket.receive_nothing(quiet):
        frames.append(await receive(socket))
    return frames


def local_group_members(group: str) -> set:
    """This process's channels in `group`, whichever layer the settings chose (the
    in-memory one, or channels_redis' pub/sub layer, which keeps them per event loop)."""
    layer = get_channel_layer()
    if hasattr(layer, "_get_layer"):
        inner = layer._get_layer()
        return set(inner.groups.get(inner._get_group_channel_name(group), ()))
    return set(layer.groups.get(group, ()))


@pytest.fixture
def room(db):
    return RoomFactory()


async def test_a_process_subscribes_once_per_room_whatever_its_sockets(room):
    """The tutorial way puts every socket in the room's group: a message crosses the layer
    once per recipient. The hub is the group's only member from this process."""
    people = await members(room, 3)
    async with AsyncExitStack() as stack:
        sockets = [await open_socket(stack, person, room.pk) for person in people]
        hub = live_hub()
        assert local_group_members(f"room.{room.pk}") == {hub.channel_name}
        assert len(hub.groups[f"room.{room.pk}"]) == 3

        await sockets[0].send_json_to({"type": "message.send", "body": "hi", "client_id": "a"})
        for socket in sockets:
            new = await receive_until(socket, "message.new")
            assert new["message"]["body"] == "hi"
    # The last socket gone, the process leaves the group.
    assert local_group_members(f"room.{room.pk}") == set()
    assert f"room.{room.pk}" not in live_hub().groups


async def test_typing_reaches_the_others_not_the_typists_tabs(room):
    typist, other = await members(room, 2)
    async with AsyncExitStack() as stack:
        tab_one = await open_socket(stack, typist, room.pk)
        tab_two = await open_socket(stack, typist, room.pk)
        watcher = await open_socket(stack, other, room.pk)
        for socket in (tab_one, tab_two, watcher):
            await frames_until_quiet(socket)

        await tab_one.send_json_to({"type": "typing"})
        await tab_one.send_json_to({"type": "typing"})  # within 0.5 s: not relayed

        def typing(frames):
            return [f for f in frames if f["type"] == "typing"]

        assert typing(await frames_until_quiet(watcher)) == [
            {"type": "typing", "user": {"id": typist.pk, "name": typist.display_name}}
        ]
        assert typing(await frames_until_quiet(tab_two)) == []
        assert typing(await frames_until_quiet(tab_one)) == []
    assert await Message.objects.acount() == 0  # never stored


async def test_presence_is_coalesced_per_room(room):
    """Ten arrivals in quick succession: the first socket gets a handful of presence
    frames, not one per arrival, and the last one lists everybody."""
    people = await members(room, 10)
    async with AsyncExitStack() as stack:
        first = await open_socket(stack, people[0], room.pk)
        started = time.monotonic()
        for person in people[1:]:
            await open_socket(stack, person, room.pk)
        joining = time.monotonic() - started
        await asyncio.sleep(PRESENCE_INTERVAL + 0.2)
        frames = [f for f in await frames_until_quiet(first) if f["type"] == "presence"]

    assert len(frames) <= 2 + joining / PRESENCE_INTERVAL < 9
    assert sorted(p["id"] for p in frames[-1]["online"]) == sorted(p.pk for p in people)


async def test_past_saturation_new_messages_are_refused_and_nothing_is_stored(room):
    (person,) = await members(room, 1)
    async with connected(person, room.pk) as socket:
        await socket.connect()
        await receive(socket)
        await receive(socket)
        hub = live_hub()
        # The hub hands out an event sent 5 s ago: this process is 5 s behind.
        await hub.dispatch(
            {
                "type": "live.frame",
                "group": f"room.{room.pk}",
                "text": '{"type":"late"}',
                "sent_at": time.time() - 5,
            }
        )
        await receive_until(socket, "late")
        await socket.send_json_to({"type": "message.send", "body": "hi", "client_id": "a"})
        refused = await receive_until(socket, "error")

    assert refused["code"] == "overloaded"
    assert refused["client_id"] == "a"
    assert 5 <= refused["retry_after"] <= 30
    assert await Message.objects.acount() == 0


async def test_the_hub_is_not_overloaded_when_events_arrive_on_time(room):
    (person,) = await members(room, 1)
    async with connected(person, room.pk) as socket:
        await socket.connect()
        await receive(socket)
        await receive(socket)
        await socket.send_json_to({"type": "message.send", "body": "hi", "client_id": "a"})
        echo = await receive_until(socket, "message.new")

        assert live_hub().overloaded() is None
    assert echo["message"]["client_id"] == "a"
