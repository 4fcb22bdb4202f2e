"""A socket lives as long as its session: signing out, a new password or an account made
inactive closes it with 4401 at once; the heartbeat closes any other ended session."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import logout
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.http import HttpRequest

from tests.live.conftest import closed_with, room_socket, session_key, stays_open
from tests.rooms.conftest import session_cookie

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

adb = database_sync_to_async


def _sign_out(user, key: str) -> None:
    request = HttpRequest()
    request.session = SessionStore(session_key=key)
    request.user = user
    logout(request)


async def test_signing_out_closes_that_sessions_sockets_only(room, member):
    one = await adb(session_cookie)(member)
    two = await adb(session_cookie)(member)
    async with (
        room_socket(member, room.pk, cookie=one) as first,
        room_socket(member, room.pk, cookie=two) as second,
    ):
        await adb(_sign_out)(member, session_key(one))

        assert await closed_with(first) == 4401
        assert await stays_open(second)


async def test_a_new_password_closes_the_users_other_sessions(room, member):
    async with room_socket(member, room.pk) as socket:

        def change_password():
            member.set_password("another-horse-battery")
            member.save()

        await adb(change_password)()

        assert await closed_with(socket) == 4401


async def test_an_account_made_inactive_closes_its_sockets(room, member):
    async with room_socket(member, room.pk) as socket:

        def deactivate():
            member.is_active = False
            member.save(update_fields=["is_active"])

        await adb(deactivate)()

        assert await closed_with(socket) == 4401


async def test_saving_a_profile_closes_nothing(room, member):
    async with room_socket(member, room.pk) as socket:

        def rename():
            member.display_name = "Another name"
            member.save()

        await adb(rename)()

        assert await stays_open(socket)


async def test_the_heartbeat_closes_a_socket_whose_session_was_deleted(room, member, settings):
    settings.LIVE_HEARTBEAT_SECONDS = 0.2
    cookie = await adb(session_cookie)(member)
    async with room_socket(member, room.pk, cookie=cookie) as socket:
        # No signal at all: the session row goes (an admin, `clearsessions`, expiry).
        await adb(lambda: Session.objects.filter(pk=session_key(cookie)).delete())()

        assert await closed_with(socket) == 4401


async def test_the_heartbeat_leaves_live_sessions_open(room, member, settings):
    settings.LIVE_HEARTBEAT_SECONDS = 0.2
    async with room_socket(member, room.pk) as socket:
        frames = []
        while not await socket.receive_nothing(0.6):
            frames.append(await socket.receive_json_from())
            if len(frames) > 3:
                break

    assert {frame["type"] for frame in frames} <= {"heartbeat", "presence"}
