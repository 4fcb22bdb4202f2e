import json
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatserver.asgi import application
from rooms.services import room_get_or_create_for_community
from tests.factories import CommunityFactory, MembershipFactory


@pytest.fixture(autouse=True)
def _check_events_serialise(settings):
    # Every event is round-tripped through JSON where it is built.
    settings.EVENTS_CHECK_JSON = True


@pytest.fixture
def room(db):
    community = CommunityFactory(join_policy="open")
    return room_get_or_create_for_community(community=community)


@pytest.fixture
def member(room):
    return MembershipFactory(community=room.community).user


def session_cookie(user) -> str:
    """A real signed-in session for `user`, as the sign-in page makes one."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


@asynccontextmanager
async def connected(user, room_id, query: str = "", origin: bytes = b"http://testserver"):
    """A communicator through the real ASGI stack: origin check, session authentication,
    URL router. Always disconnects."""
    path = f"/ws/rooms/{room_id}/" + (f"?{query}" if query else "")
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def receive(communicator, timeout: float = 2) -> dict:
    return json.loads(await communicator.receive_from(timeout))


async def receive_until(communicator, kind: str, timeout: float = 2) -> dict:
    while True:
        frame = await receive(communicator, timeout)
        if frame["type"] == kind:
            return frame


def db(fn):
    return database_sync_to_async(fn)
