"""Knowing when a socket's reader has fallen behind, so the server stops writing to it.

Under Daphne a socket's frames go to an autobahn protocol on a Twisted transport, which
buffers whatever the peer does not read, without limit. Twisted's producer interface is the
standard way to learn about it: a push producer registered on the transport is paused when
the transport's buffer passes its `bufferSize` (64 KB) and resumed when it drains.

Under another ASGI server (or the test communicator) there is no transport to watch, and
`write_watch` returns None: frames are always sent.
"""

import functools
import time

from twisted.internet.interfaces import IPushProducer
from twisted.web.http import HTTPChannel
from zope.interface import implementer


@implementer(IPushProducer)
class WriteWatch:
    """Paused by Twisted while more than 64 KB wait for the client."""

    # A pause within this many seconds of a resume continues it: Linux growing the socket's
    # send buffer lets Twisted hand it a little more, which is not the client reading.
    SETTLE = 1.0

    paused_since: float | None = None
    on_resume = None  # called (in the event loop) when the buffer has drained
    _resumed_at = -SETTLE
    _was_paused_since: float | None = None

    def pauseProducing(self) -> None:
        if self.paused_since is not None:
            return
        now = time.monotonic()
        if self._was_paused_since is not None and now - self._resumed_at < self.SETTLE:
            self.paused_since = self._was_paused_since
        else:
            self.paused_since = now

    def resumeProducing(self) -> None:
        self._was_paused_since, self.paused_since = self.paused_since, None
        self._resumed_at = time.monotonic()
        if self.on_resume is not None:
            self.on_resume()

    def stopProducing(self) -> None:
        self.paused_since = None
        self.on_resume = None

    def behind_for(self) -> float | None:
        """Seconds since the client fell behind, or None while it keeps up."""
        return None if self.paused_since is None else time.monotonic() - self.paused_since


def write_watch(send) -> WriteWatch | None:
    """A watch on the transport behind an ASGI `send`, when Daphne serves the socket.

    Daphne hands each application `functools.partial(server.handle_reply, protocol)`;
    the protocol is autobahn's, whose `registerProducer` registers on the transport."""
    protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(protocol, "registerProducer"):
        return None
    producer = getattr(transport, "producer", None)
    if producer is not None:
        # Twisted's HTTPChannel registered itself when the connection opened and stays
        # registered after the upgrade, though Daphne handed the transport to the
        # WebSocket protocol: it serves nothing any more. Anything else, leave alone.
        if not isinstance(producer, HTTPChannel):
            return None
        transport.unregisterProducer()
    watch = WriteWatch()
    protocol.registerProducer(watch, True)
    return watch


class WriteWatchMiddleware:
    """Outermost ASGI middleware for sockets: puts `scope["write_watch"]`, a function that
    makes the socket's WriteWatch (or None), where the consumer finds it. Outermost,
    because the middleware inside (sessions) wraps `send` and hides Daphne's."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            scope = {**scope, "write_watch": functools.partial(write_watch, send)}
        return await self.app(scope, receive, send)
