"""Sockets accept only this site's pages: the Origin's scheme, host and port must be the
site's own (or listed in CSRF_TRUSTED_ORIGINS)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatserver.asgi import application
from live.security import origin_allowed
from tests.factories import MembershipFactory, RoomFactory
from tests.rooms.conftest import session_cookie


def scope(origin: str | None, host: str = "testserver", **headers: str) -> dict:
    pairs = [(b"host", host.encode())]
    if origin is not None:
        pairs.append((b"origin", origin.encode()))
    pairs += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "websocket", "headers": pairs}


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://testserver", "testserver", True),
        ("http://TestServer", "testserver", True),
        ("http://testserver:8080", "testserver", False),  # another port
        ("https://testserver", "testserver", False),  # another scheme
        ("http://testserver.evil.example", "testserver", False),
        ("http://evil.example", "evil.example", False),  # not an allowed host
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://127.0.0.1:9000", "127.0.0.1:8000", False),
        ("null", "testserver", False),
        (None, "testserver", False),
    ],
)
def test_origin_allowed_compares_scheme_host_and_port(origin, host, allowed):
    assert origin_allowed(scope(origin, host)) is allowed


def test_origin_behind_a_tls_proxy_is_https(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = {"x_forwarded_proto": "https"}

    assert origin_allowed(scope("https://testserver", **proxied)) is True
    assert origin_allowed(scope("http://testserver", **proxied)) is False


def test_csrf_trusted_origins_are_allowed(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.org"]

    assert origin_allowed(scope("https://chat.example.org")) is True
    assert origin_allowed(scope("https://chat.example.org:444")) is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin", [b"http://testserver:8080", b"https://testserver"])
async def test_a_socket_from_another_origin_is_refused_at_the_handshake(origin):
    room = await database_sync_to_async(RoomFactory)()
    member = await database_sync_to_async(
        lambda: MembershipFactory(community=room.community).user
    )()
    cookie = await database_sync_to_async(session_cookie)(member)
    communicator = WebsocketCommunicator(
        application,
        f"/ws/rooms/{room.pk}/",
        headers=[(b"origin", origin), (b"host", b"testserver"), (b"cookie", cookie.encode())],
    )
    try:
        connected, _code = await communicator.connect()
    finally:
        await communicator.disconnect()

    assert connected is False  # Daphne answers such a refusal with HTTP 403
