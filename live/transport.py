"""A socket's way out: frames framed once for a whole group, and a watch on what waits for
a client that does not read.

Under Daphne a socket's frames go to an autobahn protocol on a Twisted transport.

- Live frames go to every socket of a group alike. autobahn's `PreparedMessage` (its
  broadcast interface) frames the payload once; `sendPreparedMessage` writes those bytes
  to each socket, without the per-socket ASGI hop, UTF-8 encoding and framing.
- The transport buffers whatever the peer does not read, without limit. Twisted's producer
  interface is the standard way to learn about it: a push producer registered on the
  transport is paused when the buffer passes its `bufferSize` (64 KB) and resumed when it
  drains. Answers then wait for the client to read.
- Daphne reads whatever the client sends into the application's queue, without limit.
  Past a few dozen waiting frames the transport stops reading (`Reading`): a client that
  sends requests and never reads the answers waits in its own buffers, not ours.

Under another ASGI server (or the test communicator) there is no such protocol: the
`AsgiOutlet` writes through ASGI's `send`, in order, always.
"""

import asyncio
import contextlib
import functools
import logging
import time

from autobahn.websocket.protocol import PreparedMessage
from twisted.internet.interfaces import IPushProducer
from twisted.web.http import HTTPChannel
from zope.interface import implementer

logger = logging.getLogger(__name__)


class Frame:
    """A frame's text for any number of sockets, framed for autobahn at most once."""

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


class Reading:
    """Whether the transport reads the client's frames (not while too many of them wait
    for the consumer)."""

    def __init__(self, transport=None):
        self.transport = transport
        self.held = False

    def hold(self) -> None:
        if not self.held and self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.pauseProducing()  # Twisted: stop reading
        self.held = True

    def release(self) -> None:
        if self.held and self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.resumeProducing()
        self.held = False


@implementer(IPushProducer)
class WriteWatch:
    """Paused by Twisted while more than 64 KB wait for the client."""

    paused = False
    resumed_at = 0.0  # time.monotonic() of the last resume
    on_pause = None  # called (in the event loop) when the buffer filled up
    on_resume = None  # called (in the event loop) when the buffer has drained

    def __init__(self, reading: Reading | None = None):
        self.reading = reading or Reading()
        self._drained = None  # an asyncio.Event while someone waits for a resume

    def pauseProducing(self) -> None:
        self.paused = True
        if self.on_pause is not None:
            self.on_pause()

    def resumeProducing(self) -> None:
        self.paused = False
        self.resumed_at = time.monotonic()
        if self._drained is not None:
            self._drained.set()
        if self.on_resume is not None:
            self.on_resume()

    def stopProducing(self) -> None:
        # The connection is gone: nobody waits for it any more.
        self.paused = False
        self.on_resume = self.on_pause = None
        if self._drained is not None:
            self._drained.set()

    async def drained(self, timeout: float) -> bool:
        """Wait until the client has read what waits for it; False after `timeout`."""
        if not self.paused:
            return True
        if self._drained is None or self._drained.is_set():
            self._drained = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout)
        return not self.paused


INBOUND_HIGH = 32  # client frames waiting for the consumer: stop reading more
INBOUND_LOW = 8  # read again once no more than this many wait


class DaphneOutlet:
    """One socket's autobahn protocol, and the watch on its transport's buffer."""

    __slots__ = ("protocol", "watch")
    watched = True

    def __init__(self, protocol, watch: WriteWatch):
        self.protocol = protocol
        self.watch = watch

    def inbound_check(self) -> None:
        """Daphne reads whatever the client sends into the application's queue, without
        limit: a client that sends faster than its frames are handled would grow it for
        ever. Past INBOUND_HIGH waiting frames, the transport stops reading (the rest wait
        in the client's buffers) until the consumer is down to INBOUND_LOW."""
        queue = getattr(self.protocol, "application_queue", None)
        if queue is None:
            return
        waiting = queue.qsize()
        if waiting >= INBOUND_HIGH:
            self.watch.reading.hold()
        elif waiting <= INBOUND_LOW:
            self.watch.reading.release()

    def send(self, frame: Frame) -> None:
        if self.protocol.state == self.protocol.STATE_OPEN:
            self.protocol.sendPreparedMessage(frame.prepared)

    async def flush(self) -> None:
        """Everything sent is with Twisted already."""

    def stop(self) -> None:
        """Nothing to stop."""


class AsgiOutlet:
    """Frames through ASGI's `send`, in the order they were given, by one writer task."""

    watched = False

    def __init__(self, send_text):
        self._send_text = send_text
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.watch = WriteWatch()  # never paused: nothing tells us about this transport

    def inbound_check(self) -> None:
        """Nothing to tell: another server reads as it does."""

    def send(self, frame: Frame) -> None:
        self._queue.put_nowait(frame.text)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while True:
            text = await self._queue.get()
            try:
                await self._send_text(text)
            except Exception:
                logger.debug("a frame could not be written", exc_info=True)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every frame given so far is written (before a close)."""
        if self._task is not None:
            await self._queue.join()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def daphne_outlet(send) -> DaphneOutlet | None:
    """The outlet behind an ASGI `send`, when Daphne serves the socket.

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
    watch = WriteWatch(Reading(transport))
    protocol.registerProducer(watch, True)
    return DaphneOutlet(protocol, watch)


def outlet_for(scope: dict, send_text):
    """The socket's outlet: Daphne's protocol when there is one, else ASGI's `send`."""
    make = scope.get("live.outlet")
    outlet = make() if make is not None else None
    return outlet if outlet is not None else AsgiOutlet(send_text)


class OutletMiddleware:
    """Outermost ASGI middleware for sockets: puts `scope["live.outlet"]`, a function that
    makes the socket's Daphne outlet (or None), where the consumer finds it. Outermost,
    because the middleware inside (sessions) wraps `send` and hides Daphne's."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            scope = {**scope, "live.outlet": functools.partial(daphne_outlet, send)}
        return await self.app(scope, receive, send)
