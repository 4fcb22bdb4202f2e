"""The one way real-time events leave the server's code: after the transaction commits.

Services call `event_send_on_commit`; consumers and views never `group_send`. An event is
never the state: what must be exact is in the database first, and the channel layer only
announces it (a lost event shows as a gap clients fill from the database).

Publishing never waits for ever. From a socket's or a view's database thread, the event is
handed to the event loop's publisher (a queue and one task that sends in order), and the
thread waits for it to be sent at most PUBLISH_WAIT seconds (so commits on the thread are
paced by their events, as before); in the loop itself it is queued; only without a server
loop (a management command, a plain test) is it sent there and then. A thread that waited
without limit would wait for ever once the loop stops (SIGTERM): the process would never
exit.
"""

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import time
import weakref
from collections import deque
from functools import partial

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from .frames import dumps

logger = logging.getLogger(__name__)

QUEUE_MAX = 10_000  # events waiting for the layer; past that the oldest are dropped
PUBLISH_WAIT = 2.0  # seconds a database thread waits for its event to be sent, at most

# Channel-layer event types the hub handles (live/hub.py).
FRAME = "live.frame"
PRESENCE = "live.presence"
KICK = "live.kick"
SESSION = "live.session"


def user_group(user_id: int) -> str:
    """The group every process with a socket of this user is in."""
    return f"user.{user_id}"


def frame_event(group: str, frame: dict, **routing) -> dict:
    """An event carrying `frame`, serialised once, for every socket in `group`.

    `routing` adds what the receiving hub reads without parsing the frame: `seq` (sockets
    drop what they already sent from history), `skip_user` (not to that user's sockets)."""
    return {"type": FRAME, "group": group, "text": dumps(frame), **routing}


def presence_event(group: str) -> dict:
    """Who is present in `group` changed: each process's hub reads the list (at most once
    a second per group) and tells its sockets."""
    return {"type": PRESENCE, "group": group}


def kick_event(*, user_id: int, tag: str, code: int) -> dict:
    """Close `user_id`'s sockets tagged `tag` (e.g. `community.5`) with `code`, at once."""
    return {"type": KICK, "user": user_id, "tag": tag, "code": code}


def session_event(*, user_id: int, session_key: str | None = None) -> dict:
    """`session_key` ended (signed out): close its sockets. Without a key: the user's
    password or standing changed; each of their sockets checks its session again."""
    return {"type": SESSION, "user": user_id, "session": session_key}


def event_send_on_commit(group: str, event: dict) -> None:
    """Send `event` to `group` once the current transaction commits (at once outside one)."""
    if settings.DEBUG or getattr(settings, "EVENTS_CHECK_JSON", False):
        json.loads(json.dumps(event))  # fail where an unserialisable event is built
    transaction.on_commit(partial(event_send_now, group, event))


def event_send_now(group: str, event: dict) -> None:
    """Send without waiting (the caller is past its commit, or has nothing to commit).
    Never raises: a lost event loses nothing, since clients catch up from the database."""
    event = {**event, "sent_at": time.time()}  # the hub measures its lag with it
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        publisher(running).put(group, event)
        return
    loop = _server_loop()
    if loop is not None:
        sent = concurrent.futures.Future()
        try:
            loop.call_soon_threadsafe(_put, loop, group, event, sent)
        except RuntimeError:
            logger.warning("the event loop stopped; %s to %s dropped", event["type"], group)
            return
        # Wait for it, as long as the loop runs: the next commit on this thread then
        # follows its event (paced, as a reader sees them). Never for ever: a loop that has
        # stopped (SIGTERM) would keep this thread, and the process, alive.
        with contextlib.suppress(concurrent.futures.TimeoutError):
            sent.result(timeout=PUBLISH_WAIT)
        return
    try:
        async_to_sync(get_channel_layer().group_send)(group, event)
    except Exception:
        logger.warning("could not send %s to %s", event.get("type"), group, exc_info=True)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this thread does database work for (a socket's or a view's
    `sync_to_async` thread knows it), if it still runs."""
    local = SyncToAsync.threadlocal
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(local, "main_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


def _put(loop, group: str, event: dict, sent=None) -> None:
    publisher(loop).put(group, event, sent)


class Publisher:
    """One loop's outgoing events, sent to the channel layer in the order given."""

    def __init__(self, layer):
        self.layer = layer
        self.queue: deque = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None

    def put(self, group: str, event: dict, sent=None) -> None:
        """Queue `event`; `sent` (a concurrent Future), if given, is done once it is."""
        if len(self.queue) >= QUEUE_MAX:
            dropped_group, dropped, dropped_sent = self.queue.popleft()
            logger.warning("events back up; %s to %s dropped", dropped["type"], dropped_group)
            _done(dropped_sent)
        self.queue.append((group, event, sent))
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.queue:
                group, event, sent = self.queue.popleft()
                try:
                    await self.layer.group_send(group, event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.warning("could not send %s to %s", event["type"], group, exc_info=True)
                finally:
                    _done(sent)
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until everything queued so far is sent; False after `timeout`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def _done(sent) -> None:
    if sent is not None and not sent.done():
        sent.set_result(None)


_publishers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Publisher]" = (
    weakref.WeakKeyDictionary()
)


def publisher(loop: asyncio.AbstractEventLoop) -> Publisher:
    """The loop's publisher (call from the loop's own thread)."""
    found = _publishers.get(loop)
    if found is None:
        found = _publishers[loop] = Publisher(get_channel_layer())
    return found
