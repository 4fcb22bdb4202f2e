"""A socket written on the layer with nothing copied from rooms (tests/live/shout.py): it
gets the fan-out, the error frames, the refusals, the kicks, the limits and the heartbeat
from the layer alone."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from communities import services as community_services
from live.hub import live_hub
from tests.factories import CommunityFactory, MembershipFactory, UserFactory
from tests.live import shout
from tests.live.conftest import closed_with
from tests.rooms.conftest import session_cookie

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

adb = database_sync_to_async


@pytest.fixture
def community(db):
    return CommunityFactory()


async def member_of(community):
    return (await adb(MembershipFactory)(community=community)).user


async def open_shout(user, community_id: int) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        headers.append((b"cookie", (await adb(session_cookie)(user)).encode()))
    socket = WebsocketCommunicator(shout.application, f"/ws/shout/{community_id}/", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    return socket


async def hello(socket) -> dict:
    return json.loads(await socket.receive_from())


async def test_a_shout_reaches_every_member_connected_once_per_process(community):
    one, two = await member_of(community), await member_of(community)
    first, second = await open_shout(one, community.pk), await open_shout(two, community.pk)
    try:
        assert (await hello(first))["type"] == "shout.hello"
        assert (await hello(second))["type"] == "shout.hello"
        assert len(live_hub().groups[f"shout.{community.pk}"]) == 2

        await first.send_json_to({"type": "shout.send", "text": "HELLO"})

        expected = {"type": "shout.new", "by": one.display_name, "text": "HELLO"}
        assert json.loads(await first.receive_from()) == expected
        assert json.loads(await second.receive_from()) == expected
    finally:
        await first.disconnect()
        await second.disconnect()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "bad_json"),
        ('{"type": "shout.whisper", "request_id": "r1"}', "unknown_type"),
        ('{"type": "shout.send", "request_id": "r1"}', "missing_field"),
        ('{"type": "shout.send", "text": 5, "request_id": "r1"}', "invalid_field"),
        ('{"type": "shout.send", "text": "HI\\u0000", "request_id": "r1"}', "invalid_text"),
        ('{"type": "shout.send", "text": "hi", "request_id": "r1"}', "not_loud"),
    ],
)
async def test_a_bad_frame_gets_one_error_and_reaches_nobody(community, text, code):
    one, two = await member_of(community), await member_of(community)
    first, second = await open_shout(one, community.pk), await open_shout(two, community.pk)
    try:
        await hello(first)
        await hello(second)

        await first.send_to(text_data=text)
        error = json.loads(await first.receive_from())

        assert error["type"] == "error"
        assert error["code"] == code
        assert error.get("request_id") == (None if code == "bad_json" else "r1")
        assert await first.receive_nothing(0.2)
        assert await second.receive_nothing(0.2)
    finally:
        await first.disconnect()
        await second.disconnect()


async def test_refusals_come_from_the_layer_and_the_apps_selector(community):
    outsider = await adb(UserFactory)()
    anonymous = await open_shout(None, community.pk)
    stranger = await open_shout(outsider, community.pk)
    nowhere = await open_shout(outsider, 10**9)
    try:
        assert await closed_with(anonymous) == 4401
        assert await closed_with(stranger) == 4403
        assert await closed_with(nowhere) == 4404
    finally:
        for socket in (anonymous, stranger, nowhere):
            await socket.disconnect()


async def test_leaving_the_community_closes_its_shout_socket(community):
    one = await member_of(community)
    socket = await open_shout(one, community.pk)
    try:
        await hello(socket)

        await adb(community_services.membership_leave)(user=one, community=community)

        assert await closed_with(socket) == 4403
    finally:
        await socket.disconnect()


async def test_the_groups_heartbeat_comes_from_its_provider(community, settings):
    settings.LIVE_HEARTBEAT_SECONDS = 0.2
    socket = await open_shout(await member_of(community), community.pk)
    try:
        await hello(socket)

        beat = json.loads(await socket.receive_from(timeout=2))

        assert beat == {"type": "shout.beat", "community": community.pk}
    finally:
        await socket.disconnect()
