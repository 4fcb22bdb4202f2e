"""One fan-out per server process: this process's sockets, grouped, and their events.

The tutorial way gives every socket its own channel-layer channel and group membership, so
each event crosses the layer once per recipient (a queue, a task wake-up and a dispatch
each). Here the process subscribes to a group once, when its first socket in the group
opens, and hands each event to its sockets in one pass: the frame is serialised once by
the sender (`events.frame_event`), framed once (`transport.Frame`) and written to each
socket's outlet with nothing else paid per recipient. Zulip's Tornado queues work the same
way. The hub knows groups and users, never what an app's frames mean: apps describe their
groups' heartbeat and presence in `registry.py`.

The hub also does, once per process, what each socket would do on its own:

- the heartbeat: one trip to the database thread runs every group kind's `beat` for all
  the process's sockets of that kind, and checks every socket's session (signed out,
  password changed, account made inactive: closed with 4401);
- presence: `presence` events are coalesced per group (at most one frame a second), so a
  group filling up does not send each arrival's full list to everyone (quadratic);
- the per-user limits: sockets per user, and the bucket of actions each user shares
  between the sockets of this process.

Only the event loop's thread touches the hub; the database work runs on Channels' thread.
"""

import asyncio
import contextlib
import logging
import time
import weakref
from collections import defaultdict

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from . import events, selectors
from .codes import CLOSE_GOING_AWAY, CLOSE_NOT_SIGNED_IN, CLOSE_TOO_MANY, CLOSE_UNAVAILABLE
from .errors import Refused
from .frames import dumps
from .limits import Bucket
from .registry import group_kind, group_kinds
from .transport import Frame

logger = logging.getLogger(__name__)

PRESENCE_INTERVAL = 1.0  # seconds between two presence frames to a group, at least
LAYER_TIMEOUT = 5.0  # seconds a subscription may take before the layer counts as away


class Hub:
    def __init__(self, layer, loop):
        self.layer = layer
        self.publisher = events.publisher(loop)
        self.channel_name: str | None = None
        self.groups: dict[str, set] = defaultdict(set)  # group -> sockets
        self.users: dict[int, set] = defaultdict(set)  # user id -> sockets
        self.unsubscribed: set[str] = set()  # user groups to subscribe again (layer away)
        self.actions: dict[int, Bucket] = {}  # user id -> their actions on this process
        self.presence_sent: dict[str, list] = {}  # group -> the list its sockets hold
        # group -> the newest list heard (from the beat), or None: read it at the flush
        self.presence_latest: dict[str, list | None] = {}
        self.presence_flushed: dict[str, float] = {}
        self.presence_tasks: dict[str, asyncio.Task] = {}
        self.lag = 0.0  # seconds between the newest frame event's sending and its delivery
        self.lag_at = 0.0
        self.closing = False
        self.busy = 0  # frames being handled now
        self.open: set = set()  # sockets joined whose disconnect has not finished
        self._lock = asyncio.Lock()  # subscriptions change in order
        self._tasks: list[asyncio.Task] = []

    # Sockets come and go --------------------------------------------------------------------

    async def join(self, socket) -> None:
        """Subscribe the process to the socket's group and user (if it is the first there),
        then start delivering to it. Raises Refused: the process stops (4012), the user has
        too many sockets here (4429), or the layer is unreachable and the process is not
        subscribed to the group yet (4503)."""
        async with self._lock:
            if self.closing:
                raise Refused(CLOSE_GOING_AWAY)
            mine = self.users.get(socket.user_id, ())
            if len(mine) >= settings.LIVE_SOCKETS_PER_USER:
                raise Refused(CLOSE_TOO_MANY)
            await self._start()
            if not self.groups.get(socket.group):
                try:
                    await self._subscribe(socket.group)
                except Exception:
                    logger.warning("could not subscribe to %s", socket.group, exc_info=True)
                    raise Refused(CLOSE_UNAVAILABLE) from None
            if not mine:
                user_group = events.user_group(socket.user_id)
                try:
                    await self._subscribe(user_group)
                except Exception:
                    # The socket still opens: its group is served, every action checks
                    # the user's rights again, and the heartbeat subscribes later.
                    logger.warning("could not subscribe to %s", user_group, exc_info=True)
                    self.unsubscribed.add(user_group)
            self.groups[socket.group].add(socket)
            self.users[socket.user_id].add(socket)

    async def leave(self, socket) -> None:
        async with self._lock:
            groups = []
            sockets = self.groups.get(socket.group)
            if sockets is not None and socket in sockets:
                sockets.discard(socket)
                if not sockets:
                    del self.groups[socket.group]
                    self._forget_group(socket.group)
                    groups.append(socket.group)
            sockets = self.users.get(socket.user_id)
            if sockets is not None and socket in sockets:
                sockets.discard(socket)
                if not sockets:
                    del self.users[socket.user_id]
                    self.actions.pop(socket.user_id, None)
                    user_group = events.user_group(socket.user_id)
                    if user_group in self.unsubscribed:
                        self.unsubscribed.discard(user_group)
                    else:
                        groups.append(user_group)
            for group in groups:
                try:
                    await asyncio.wait_for(
                        self.layer.group_discard(group, self.channel_name), LAYER_TIMEOUT
                    )
                except Exception:
                    logger.warning("could not leave %s", group, exc_info=True)

    def sockets(self) -> list:
        return [socket for sockets in self.groups.values() for socket in sockets]

    async def _subscribe(self, group: str) -> None:
        await asyncio.wait_for(self.layer.group_add(group, self.channel_name), LAYER_TIMEOUT)

    def _forget_group(self, group: str) -> None:
        for state in (self.presence_sent, self.presence_latest, self.presence_flushed):
            state.pop(group, None)
        task = self.presence_tasks.pop(group, None)
        if task is not None:
            task.cancel()

    async def _start(self) -> None:
        if self.channel_name is not None:
            return
        self.channel_name = await self.layer.new_channel("live.hub.")
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._beat())]

    # Limits shared by a user's sockets on this process --------------------------------------

    def action_take(self, user_id: int) -> float | None:
        """Count one action of the user's: None if allowed, else seconds to wait."""
        bucket = self.actions.get(user_id)
        if bucket is None:
            bucket = self.actions[user_id] = Bucket(
                settings.LIVE_ACTIONS_MAX, settings.LIVE_ACTIONS_SECONDS
            )
        return bucket.take()

    def overloaded(self) -> float | None:
        """While this process delivers frame events more than LIVE_OVERLOAD_SECONDS after
        they were sent, the seconds a sender should wait before trying again; else None."""
        if self.lag <= settings.LIVE_OVERLOAD_SECONDS:
            return None
        if time.monotonic() - self.lag_at > max(5.0, 2 * self.lag):
            return None  # nothing delivered for a while: the backlog is gone
        return round(min(30.0, 2 * self.lag), 1)

    # Events from the layer ------------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("the hub could not receive; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            try:
                await self.dispatch(event)
            except Exception:
                logger.exception("the hub could not handle %s", event.get("type"))

    async def dispatch(self, event: dict) -> None:
        handler = self.EVENTS.get(event.get("type"))
        if handler is not None:
            await handler(self, event)

    async def _on_frame(self, event: dict) -> None:
        sent_at = event.get("sent_at")
        if sent_at is not None:
            self.lag, self.lag_at = max(0.0, time.time() - sent_at), time.monotonic()
        self.deliver(
            event["group"], event["text"], seq=event.get("seq"), skip_user=event.get("skip_user")
        )

    async def _on_presence(self, event: dict) -> None:
        self._presence_heard(event["group"], None)

    async def _on_kick(self, event: dict) -> None:
        for socket in list(self.users.get(event["user"], ())):
            if event["tag"] in socket.tags:
                await socket.end(event["code"])

    async def _on_session(self, event: dict) -> None:
        sockets = list(self.users.get(event["user"], ()))
        key = event.get("session")
        if key is not None:
            for socket in sockets:
                if socket.session_key == key:
                    await socket.end(CLOSE_NOT_SIGNED_IN)
            return
        await self._end_ended_sessions(sockets)

    async def _end_ended_sessions(self, sockets: list) -> None:
        if not sockets:
            return
        ended = await database_sync_to_async(selectors.sessions_ended)(
            sockets=[(s.connection_id, s.user_id, s.session_key) for s in sockets]
        )
        await self._end_sessions(sockets, ended)

    async def _end_sessions(self, sockets: list, ended: set[str]) -> None:
        for socket in sockets:
            if socket.connection_id in ended:
                await socket.end(CLOSE_NOT_SIGNED_IN)

    EVENTS = {
        events.FRAME: _on_frame,
        events.PRESENCE: _on_presence,
        events.KICK: _on_kick,
        events.SESSION: _on_session,
    }

    def deliver(self, group: str, text: str, *, seq=None, skip_user=None) -> None:
        """One frame, serialised once (and framed once, under Daphne), to every socket of
        this process in the group."""
        frame = Frame(text)
        for socket in list(self.groups.get(group, ())):
            if skip_user is not None and socket.user_id == skip_user:
                continue
            try:
                socket.deliver(frame, seq)
            except Exception:
                logger.warning("could not deliver to a socket in %s", group, exc_info=True)

    # Presence: at most one frame a second per group -----------------------------------------

    def presence_known(self, group: str) -> list | None:
        """The presence list this process's sockets in `group` were last sent, if any."""
        return self.presence_sent.get(group)

    def _presence_heard(self, group: str, present: list | None) -> None:
        if group not in self.groups:
            return
        self.presence_latest[group] = present
        if group not in self.presence_tasks:
            self.presence_tasks[group] = asyncio.create_task(self._presence_flush(group))

    async def _presence_flush(self, group: str) -> None:
        try:
            wait = self.presence_flushed.get(group, 0) + PRESENCE_INTERVAL - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        finally:
            self.presence_tasks.pop(group, None)
        kind = group_kind(group)
        if group not in self.presence_latest or kind is None or kind.present is None:
            return
        present = self.presence_latest.pop(group)
        if present is None:
            present = await database_sync_to_async(kind.present)(group)
        if group not in self.groups or present == self.presence_sent.get(group):
            return
        self.presence_flushed[group] = time.monotonic()
        self.presence_sent[group] = present
        self.deliver(group, dumps(kind.presence_frame(present)))

    # The heartbeat --------------------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(settings.LIVE_HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("the heartbeat failed", exc_info=True)

    async def beat(self) -> None:
        """Every group kind's heartbeat and every socket's session check, in one trip to
        the database thread; then each group's frame, presence, and the ended sessions."""
        sockets = self.sockets()
        if not sockets:
            return
        by_kind: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
        for socket in sockets:
            by_kind[socket.group.split(".", 1)[0]][socket.connection_id] = (
                socket.group,
                socket.user_id,
            )
        beats, ended = await database_sync_to_async(_beat_work)(
            by_kind, [(s.connection_id, s.user_id, s.session_key) for s in sockets]
        )
        await self._end_sessions(sockets, ended)
        for group in [*self.groups, *(events.user_group(uid) for uid in self.users)]:
            # Keeps memberships alive in layers that expire them (the core Redis layer),
            # and subscribes user groups that failed while the layer was away.
            with contextlib.suppress(Exception):
                await self._subscribe(group)
                self.unsubscribed.discard(group)
        for group, beat in beats.items():
            if beat.frame is not None:
                self.deliver(group, dumps(beat.frame))
            if beat.present is not None:
                self._presence_heard(group, beat.present)

    # Stopping -------------------------------------------------------------------------------

    async def shutdown(self, *, code: int, timeout: float) -> None:
        """Refuse new sockets, close every socket with `code`, let the frames being handled
        finish (a message being stored is stored, and its event sent), and send what was
        committed meanwhile; within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        self.closing = True
        sockets = self.sockets()
        if sockets:
            ending = [asyncio.create_task(socket.end(code)) for socket in sockets]
            await asyncio.wait(ending, timeout=max(0.1, deadline - time.monotonic()))
        while self.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self.publisher.drain(max(0.1, deadline - time.monotonic()))


def _beat_work(by_kind: dict, sessions: list) -> tuple[dict, set[str]]:
    beats = {}
    for prefix, connections in by_kind.items():
        kind = group_kinds.get(prefix)
        if kind is not None and kind.beat is not None:
            beats.update(kind.beat(connections))
    return beats, selectors.sessions_ended(sockets=sessions)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def live_hub() -> Hub:
    """This event loop's hub (one per server process; one per test's loop in tests)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer(), loop)
    return hub


def live_hubs() -> list[Hub]:
    return list(_hubs.values())
