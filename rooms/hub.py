"""One fan-out per server process: the room sockets of this process, and their rooms' events.

The tutorial way gives every socket its own channel-layer channel and group membership, so
each message crosses the layer once per recipient (a queue, a task wake-up and a dispatch
each). Here the process subscribes to a room's group once, when its first socket in the
room opens, and hands each event to its sockets in one pass: the frame is serialised once
by the sender (`events.frame_event`), framed once (`transport.Frame`) and written to each
socket (`transport.Outlet`) with nothing else paid per recipient. Zulip's Tornado queues
work the same way.

The hub also does, once per process, what each socket used to do on its own:

- the heartbeat: one database statement refreshes the presence of every socket of the
  process, sweeps connections of dead processes, and reads each room's last seq; one
  `heartbeat` frame per room goes to its sockets;
- presence: `presence` events are coalesced per room (at most one frame a second), so a
  room filling up does not send each arrival's full list to everyone (quadratic).

Only the event loop's thread touches the hub; the database work runs on Channels' thread.
"""

import asyncio
import contextlib
import logging
import time
import weakref
from collections import defaultdict
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from . import selectors, services
from .events import dumps
from .transport import Frame

logger = logging.getLogger(__name__)

PRESENCE_INTERVAL = 1.0  # seconds between two presence frames to a room, at least


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class RoomHub:
    def __init__(self, layer):
        self.layer = layer
        self.channel_name: str | None = None
        self.rooms: dict[int, set] = defaultdict(set)  # room id -> sockets
        self.users: dict[int, set] = defaultdict(set)  # user id -> sockets
        self.presence_sent: dict[int, list] = {}  # room id -> the list its sockets hold
        # room id -> the newest list heard (from the beat), or None: read it at the flush
        self.presence_latest: dict[int, list | None] = {}
        self.presence_flushed: dict[int, float] = {}
        self.presence_tasks: dict[int, asyncio.Task] = {}
        self._lock = asyncio.Lock()  # group changes, in order
        self.lag = 0.0  # seconds between the newest room event's sending and its delivery
        self.lag_at = 0.0
        self._tasks: list[asyncio.Task] = []

    # Sockets come and go --------------------------------------------------------------------

    async def join(self, socket) -> None:
        """Subscribe the process to the socket's room and user (if it is the first there),
        then start delivering to it. Raises if the layer is unreachable and the process is
        not subscribed yet."""
        async with self._lock:
            await self._start()
            if not self.rooms.get(socket.room_id):
                await self.layer.group_add(f"room.{socket.room_id}", self.channel_name)
            if not self.users.get(socket.user_id):
                await self.layer.group_add(f"user.{socket.user_id}", self.channel_name)
            self.rooms[socket.room_id].add(socket)
            self.users[socket.user_id].add(socket)

    async def leave(self, socket) -> None:
        async with self._lock:
            groups = []
            sockets = self.rooms.get(socket.room_id)
            if sockets is not None and socket in sockets:
                sockets.discard(socket)
                if not sockets:
                    del self.rooms[socket.room_id]
                    self._forget_room(socket.room_id)
                    groups.append(f"room.{socket.room_id}")
            sockets = self.users.get(socket.user_id)
            if sockets is not None and socket in sockets:
                sockets.discard(socket)
                if not sockets:
                    del self.users[socket.user_id]
                    groups.append(f"user.{socket.user_id}")
            for group in groups:
                try:
                    await self.layer.group_discard(group, self.channel_name)
                except Exception:
                    logger.warning("could not leave %s", group, exc_info=True)

    def _forget_room(self, room_id: int) -> None:
        for state in (self.presence_sent, self.presence_latest, self.presence_flushed):
            state.pop(room_id, None)
        task = self.presence_tasks.pop(room_id, None)
        if task is not None:
            task.cancel()

    async def _start(self) -> None:
        if self.channel_name is not None:
            return
        self.channel_name = await self.layer.new_channel("rooms.hub.")
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._beat())]

    # Events from the layer ------------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("the room hub could not receive; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            try:
                await self.dispatch(event)
            except Exception:
                logger.exception("the room hub could not handle %s", event.get("type"))

    async def dispatch(self, event: dict) -> None:
        handler = self.EVENTS.get(event.get("type"))
        if handler is not None:
            await handler(self, event)

    async def _on_frame(self, event: dict) -> None:
        sent_at = event.get("sent_at")
        if sent_at is not None:
            self.lag, self.lag_at = max(0.0, time.time() - sent_at), time.monotonic()
        await self.deliver(event["room"], event["text"], seq=event.get("seq"))

    def overloaded(self) -> float | None:
        """While this process delivers room events more than ROOM_OVERLOAD_SECONDS after
        they were sent, the seconds a sender should wait before trying again; else None."""
        if self.lag <= settings.ROOM_OVERLOAD_SECONDS:
            return None
        if time.monotonic() - self.lag_at > max(5.0, 2 * self.lag):
            return None  # nothing delivered for a while: the backlog is gone
        return round(min(30.0, 2 * self.lag), 1)

    async def _on_presence(self, event: dict) -> None:
        self._presence_heard(event["room"], None)

    async def _on_typing(self, event: dict) -> None:
        await self.deliver(event["room"], event["text"], skip_user=event["user"])

    async def _on_kick(self, event: dict) -> None:
        for socket in list(self.users.get(event["user"], ())):
            if socket.community_id == event["community"]:
                await socket.kick()

    # The channel-layer events the hub handles (rooms/events.py builds them).
    EVENTS = {
        "room.frame": _on_frame,
        "room.presence": _on_presence,
        "room.typing": _on_typing,
        "room.kick": _on_kick,
    }

    async def deliver(self, room_id: int, text: str, *, seq=None, skip_user=None) -> None:
        """One frame, serialised once (and framed once, under Daphne), to every socket of
        this process in the room."""
        frame = Frame(text)
        for socket in list(self.rooms.get(room_id, ())):
            if skip_user is not None and socket.user_id == skip_user:
                continue
            try:
                sending = socket.deliver(frame, seq)
                if sending is not None:
                    await sending
            except Exception:
                logger.warning("could not deliver to a socket in room %s", room_id, exc_info=True)

    # Presence: at most one frame a second per room ------------------------------------------

    def _presence_heard(self, room_id: int, online: list | None) -> None:
        if room_id not in self.rooms:
            return
        self.presence_latest[room_id] = online
        if room_id not in self.presence_tasks:
            self.presence_tasks[room_id] = asyncio.create_task(self._presence_flush(room_id))

    async def _presence_flush(self, room_id: int) -> None:
        try:
            wait = self.presence_flushed.get(room_id, 0) + PRESENCE_INTERVAL - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        finally:
            self.presence_tasks.pop(room_id, None)
        if room_id not in self.presence_latest:
            return
        online = self.presence_latest.pop(room_id)
        if online is None:
            online = await database_sync_to_async(selectors.room_online)(room_id=room_id)
        if room_id not in self.rooms or online == self.presence_sent.get(room_id):
            return
        self.presence_flushed[room_id] = time.monotonic()
        self.presence_sent[room_id] = online
        await self.deliver(room_id, dumps({"type": "presence", "online": online}))

    # The heartbeat --------------------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(settings.ROOM_HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("the room heartbeat failed", exc_info=True)

    async def beat(self) -> None:
        """Refresh every socket's presence in one go, then tell each room its last seq (so
        a lost last message shows as a gap) and, if it changed, who is online."""
        connections = {
            socket.connection_id: (socket.room_id, socket.user_id)
            for sockets in self.rooms.values()
            for socket in sockets
        }
        if not connections:
            return
        rooms = await database_sync_to_async(services.presence_beat)(connections=connections)
        for group in [f"room.{room_id}" for room_id in self.rooms] + [
            f"user.{user_id}" for user_id in self.users
        ]:
            # Keeps memberships alive in layers that expire them (the core Redis layer).
            with contextlib.suppress(Exception):
                await self.layer.group_add(group, self.channel_name)
        server_time = now_iso()
        for room_id, (last_seq, online) in rooms.items():
            frame = {"type": "heartbeat", "last_seq": last_seq, "server_time": server_time}
            await self.deliver(room_id, dumps(frame))
            if room_id in self.rooms:
                self._presence_heard(room_id, online)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomHub]" = weakref.WeakKeyDictionary()


def room_hub() -> RoomHub:
    """This event loop's hub (one per server process; one per test's loop in tests)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = RoomHub(get_channel_layer())
    return hub
