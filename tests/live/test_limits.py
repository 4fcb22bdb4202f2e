"""What one client may ask of a server process: frames per socket, actions per user,
sockets per user. Past each limit: one `error` (or a close code) and nothing done."""

import json
from contextlib import AsyncExitStack

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatserver.asgi import application
from rooms.models import Message, Report
from tests.factories import MembershipFactory, MessageFactory
from tests.live.conftest import room_socket
from tests.rooms.conftest import session_cookie

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

adb = database_sync_to_async


async def answers(socket, count: int) -> list[dict]:
    """The next `count` frames, leaving out presence news (not answers)."""
    frames = []
    while len(frames) < count:
        frame = json.loads(await socket.receive_from())
        if frame["type"] != "presence":
            frames.append(frame)
    return frames


async def test_frames_past_the_sockets_rate_are_refused_with_their_request_id(
    room, member, settings
):
    settings.LIVE_FRAMES_MAX = 5
    settings.LIVE_FRAMES_SECONDS = 60
    async with room_socket(member, room.pk) as socket:
        for n in range(7):
            await socket.send_json_to({"type": "ping", "request_id": f"r{n}"})
        frames = await answers(socket, 7)

    assert [f["type"] for f in frames] == ["pong"] * 5 + ["error"] * 2
    assert [(f["code"], f["request_id"]) for f in frames[5:]] == [
        ("rate_limited", "r5"),
        ("rate_limited", "r6"),
    ]
    assert all(0 < f["retry_after"] <= 12 for f in frames[5:])


async def test_edits_past_the_users_action_rate_are_refused_and_not_broadcast(
    room, member, settings
):
    settings.LIVE_ACTIONS_MAX = 3
    settings.LIVE_ACTIONS_SECONDS = 60
    message = await adb(MessageFactory)(room=room, author=member, body="first")
    async with room_socket(member, room.pk) as socket:
        for n in range(5):
            await socket.send_json_to(
                {
                    "type": "message.edit",
                    "seq": message.seq,
                    "body": f"edit {n}",
                    "request_id": str(n),
                }
            )
        frames = await answers(socket, 5)

    updated = [f["message"]["body"] for f in frames if f["type"] == "message.updated"]
    refused = [(f["code"], f["request_id"]) for f in frames if f["type"] == "error"]
    assert updated == ["edit 0", "edit 1", "edit 2"]
    assert refused == [("rate_limited", "3"), ("rate_limited", "4")]
    await message.arefresh_from_db()
    assert message.body == "edit 2"


async def test_the_action_rate_is_shared_by_the_users_sockets(room, member, settings):
    settings.LIVE_ACTIONS_MAX = 2
    settings.LIVE_ACTIONS_SECONDS = 60
    message = await adb(MessageFactory)(room=room, author=member, body="first")
    async with room_socket(member, room.pk) as one, room_socket(member, room.pk) as two:
        for socket in (one, two, one):
            await socket.send_json_to({"type": "message.report", "seq": message.seq, "reason": "x"})
        first = await answers(one, 2)
        second = await answers(two, 1)

    assert [f["type"] for f in first] == ["report.received", "error"]
    assert first[1]["code"] == "rate_limited"
    assert [f["type"] for f in second] == ["report.received"]
    assert await Report.objects.acount() == 1  # the same member's report, replaced


async def test_a_user_past_the_sockets_per_process_is_refused_with_4429(room, member, settings):
    settings.LIVE_SOCKETS_PER_USER = 2
    async with AsyncExitStack() as stack:
        for _ in range(2):
            await stack.enter_async_context(room_socket(member, room.pk))
        cookie = await adb(session_cookie)(member)
        third = WebsocketCommunicator(
            application,
            f"/ws/rooms/{room.pk}/",
            headers=[
                (b"origin", b"http://testserver"),
                (b"host", b"testserver"),
                (b"cookie", cookie.encode()),
            ],
        )
        try:
            connected, _ = await third.connect()
            closed = await third.receive_output(2)
        finally:
            await third.disconnect()

    assert connected is True  # accepted, then closed with a code the browser can read
    assert closed == {"type": "websocket.close", "code": 4429}


async def test_another_user_is_not_held_by_someone_elses_sockets(room, member, settings):
    settings.LIVE_SOCKETS_PER_USER = 1
    other = await adb(lambda: MembershipFactory(community=room.community).user)()
    async with room_socket(member, room.pk), room_socket(other, room.pk) as socket:
        await socket.send_json_to({"type": "message.send", "body": "hi", "client_id": "c"})
        echo = json.loads(await socket.receive_from())

    assert echo["type"] == "message.new"
    assert await Message.objects.acount() == 1
