import json
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatserver.asgi import application
from tests.factories import MembershipFactory, RoomFactory
from tests.rooms.conftest import session_cookie


@pytest.fixture
def room(db):
    return RoomFactory()


@pytest.fixture
def member(room):
    return MembershipFactory(community=room.community).user


def session_key(cookie: str) -> str:
    return cookie.split("=", 1)[1]


@asynccontextmanager
async def room_socket(user, room_id: int, *, cookie: str | None = None, app=application):
    """An open room socket through the real ASGI stack, past its first two frames
    (room.state and history). `cookie`: a session of the user's (a new one if None).
    Always disconnects."""
    if cookie is None:
        cookie = await database_sync_to_async(session_cookie)(user)
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(app, f"/ws/rooms/{room_id}/", headers=headers)
    try:
        connected, _ = await communicator.connect()
        assert connected
        assert json.loads(await communicator.receive_from())["type"] == "room.state"
        assert json.loads(await communicator.receive_from())["type"] == "history"
        yield communicator
    finally:
        await communicator.disconnect()


async def closed_with(communicator, timeout: float = 3) -> int:
    """The close code the server sent next, skipping any frame before it."""
    while True:
        output = await communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            return output.get("code")


async def stays_open(communicator, quiet: float = 0.5) -> bool:
    """Whether the server closes nothing while the socket goes quiet (frames may come)."""
    while not await communicator.receive_nothing(quiet):
        if (await communicator.receive_output())["type"] == "websocket.close":
            return False
    return True
