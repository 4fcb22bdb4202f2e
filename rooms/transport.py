"""A room socket's way out under Daphne: frames framed once for a whole room, and a watch
on what waits for a client that does not read.

Under Daphne a socket's frames go to an autobahn protocol on a Twisted transport.

- Live frames go to every socket of a room alike. autobahn's `PreparedMessage` (its
  broadcast interface) frames the payload once; `sendPreparedMessage` writes those bytes
  to each socket, without the per-socket ASGI hop, UTF-8 encoding and framing.
- The transport buffers whatever the peer does not read, without limit. Twisted's producer
  interface is the standard way to learn about it: a push producer registered on the
  transport is paused when the buffer passes its `bufferSize` (64 KB) and resumed when it
  drains.

Under another ASGI server (or the test communicator) there is no such protocol: `outlet`
is None and frames go through ASGI's `send`, always.
"""

import functools
import time

from autobahn.websocket.protocol import PreparedMessage
from twisted.internet.interfaces import IPushProducer
from twisted.web.http import HTTPChannel
from zope.interface import implementer


@implementer(IPushProducer)
class WriteWatch:
    """Paused by Twisted while more than 64 KB wait for the client."""

    paused = False
    resumed_at = 0.0  # time.monotonic() of the last resume
    on_resume = None  # called (in the event loop) when the buffer has drained

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self.resumed_at = time.monotonic()
        if self.on_resume is not None:
            self.on_resume()

    def stopProducing(self) -> None:
        self.paused = False
        self.on_resume = None


class Frame:
    """A live frame for a whole room: its text, framed for autobahn at most once."""

    __slots__ = ("_prepared", "text")

    def __init__(self, text: str):
        self.text = text
        self._prepared = None

    @property
    def prepared(self) -> PreparedMessage:
        if self._prepared is None:
            # A server's frames are not masked; text, no compression (Daphne offers none).
            self._prepared = PreparedMessage(self.text.encode(), False, False, True)
        return self._prepared


class Outlet:
    """One socket's autobahn protocol, and the watch on its transport's buffer."""

    __slots__ = ("protocol", "watch")

    def __init__(self, protocol, watch: WriteWatch):
        self.protocol = protocol
        self.watch = watch

    def send(self, frame: Frame) -> None:
        if self.protocol.state == self.protocol.STATE_OPEN:
            self.protocol.sendPreparedMessage(frame.prepared)


def outlet(send) -> Outlet | None:
    """The Outlet behind an ASGI `send`, when Daphne serves the socket.

    Daphne hands each application `functools.partial(server.handle_reply, protocol)`;
    the protocol is autobahn's, whose `registerProducer` registers on the transport."""
    protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(protocol, "sendPreparedMessage"):
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
    return Outlet(protocol, watch)


class OutletMiddleware:
    """Outermost ASGI middleware for sockets: puts `scope["outlet"]`, a function that makes
    the socket's Outlet (or None), where the consumer finds it. Outermost, because the
    middleware inside (sessions) wraps `send` and hides Daphne's."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            scope = {**scope, "outlet": functools.partial(outlet, send)}
        return await self.app(scope, receive, send)
