"""The room socket: authenticate, authorise, decode, call a service, send.

The protocol is in docs/protocol.md; the rules are in services.py and selectors.py.
"""

import asyncio
import logging
import time
import uuid
from datetime import datetime
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from . import selectors, services
from .events import dumps as _dumps
from .events import event_send_async, typing_event
from .hub import now_iso as _now
from .hub import room_hub
from .protocol import ProtocolError, frame_decode, frame_validate
from .transport import Frame

logger = logging.getLogger(__name__)

CLOSE_NOT_SIGNED_IN = 4401
CLOSE_NOT_MEMBER = 4403
CLOSE_NOT_FOUND = 4404
# Autobahn (under Daphne) sends only 1000 and 3000-4999; these follow HTTP's 503 and 408.
CLOSE_UNAVAILABLE = 4503  # the server cannot serve the room right now; retry
CLOSE_TOO_SLOW = 4408  # the client stopped reading for ROOM_SLOW_CLIENT_SECONDS
BACKLOG_PAGES = 10  # at most this many pages of HISTORY_MAX on resume; the rest on request
CAUGHT_UP_SECONDS = 3.0  # a client whose buffer stays drained this long has caught up
TYPING_INTERVAL = 0.5  # seconds: typing frames closer together than this are not relayed


class RoomConsumer(AsyncJsonWebsocketConsumer):
    # No channel-layer channel per socket: the process's hub (rooms/hub.py) holds one for
    # all its sockets and hands them their rooms' events. (No layer has this alias.)
    channel_layer_alias = "rooms.no-layer-per-socket"

    room_id: int | None = None
    community_id: int | None = None
    user_id: int | None = None
    connection_id = ""  # names this socket in the presence table
    floor = 0  # live messages at or below this seq were already sent from history
    pending: list | None = None  # live frames held back while the backlog is sent
    kicked = False
    joined = False
    typed_at = 0.0
    outlet = None  # rooms.transport.Outlet under Daphne
    skipped = 0  # live frames not written because the client fell behind
    behind_since: float | None = None  # the first of them, since the client last caught up

    # Connecting ------------------------------------------------------------------------

    async def connect(self):
        # Accept first, then close with a code: closing before accept() makes Daphne answer
        # the handshake with HTTP 403, and the browser never learns why.
        await self.accept()
        make_outlet = self.scope.get("outlet")  # rooms.transport, under Daphne
        self.outlet = make_outlet() if make_outlet is not None else None
        if self.outlet is not None:
            self.outlet.watch.on_resume = self._caught_up
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(CLOSE_NOT_SIGNED_IN)
            return
        try:
            room, is_manager = await database_sync_to_async(selectors.room_access)(
                user=user, room_id=int(self.scope["url_route"]["kwargs"]["room_id"])
            )
        except selectors.RoomNotFound:
            await self.close(CLOSE_NOT_FOUND)
            return
        except selectors.NotRoomMember:
            await self.close(CLOSE_NOT_MEMBER)
            return
        self.room_id = room.pk
        self.community_id = room.community_id
        self.user_id = user.pk
        self.connection_id = f"socket.{uuid.uuid4().hex}"
        # Join the hub before reading history: a message committed meanwhile arrives live
        # as well; it waits in `pending` until the backlog is out, and `floor` drops the
        # copy. No gap, no duplicate, in order.
        self.pending = []
        try:
            await room_hub().join(self)
        except Exception:
            # The process's first socket in this room cannot subscribe (Redis is away):
            # the client retries with backoff.
            logger.warning("room %s: could not subscribe", room.pk, exc_info=True)
            await self.close(CLOSE_UNAVAILABLE)
            return
        self.joined = True
        # The list this process's sockets in the room hold, if any: reading it again costs
        # a query over the whole room per arrival. A change it lacks (this arrival) follows
        # in a presence frame within the second.
        online = room_hub().presence_sent.get(room.pk)
        state = await database_sync_to_async(self._arrive)(room, is_manager, online)
        await self.send(text_data=_dumps(state))
        await self._send_backlog(self._after_param())
        while self.pending:
            held, self.pending = self.pending, []
            for frame, seq in held:
                if (sending := self._deliver_live(frame, seq)) is not None:
                    await sending
        self.pending = None

    def _query(self) -> dict[str, str]:
        return {
            name: values[-1]
            for name, values in parse_qs(self.scope.get("query_string", b"").decode()).items()
        }

    def _after_param(self) -> int | None:
        value = self._query().get("after", "")
        return int(value) if value.isdigit() else None

    def _changed_since_param(self) -> datetime | None:
        value = self._query().get("changed_since", "")
        try:
            since = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return since if since.tzinfo is not None else None

    def _arrive(self, room, is_manager: bool, online: list | None) -> dict:
        """Presence and the room's state in one trip to the database thread."""
        services.presence_join(
            user=self.scope["user"], room_id=room.pk, channel_name=self.connection_id
        )
        return self._state(room, is_manager, online)

    def _state(self, room, is_manager: bool, online: list | None = None) -> dict:
        user = self.scope["user"]
        return {
            "type": "room.state",
            "room": {"id": room.pk, "title": room.title, "kind": room.kind},
            "last_seq": selectors.room_last_seq(room_id=room.pk),
            "online": _with(online, {"id": user.pk, "name": user.display_name})
            if online is not None
            else selectors.room_online(room_id=room.pk),
            "you": {"id": user.pk, "name": user.display_name, "manager": is_manager},
            "limits": {
                "body": services.BODY_MAX_LENGTH,
                "messages": settings.ROOM_RATE_LIMIT_MESSAGES,
                "seconds": settings.ROOM_RATE_LIMIT_SECONDS,
                "heartbeat": settings.ROOM_HEARTBEAT_SECONDS,
            },
            "server_time": _now(),
        }

    async def _send_backlog(self, after: int | None) -> None:
        history = database_sync_to_async(selectors.room_history)
        if after is None:
            messages, has_more = await history(room=self._room_ref())
            self.floor = messages[-1].seq if messages else 0
            await self._send_history(messages, has_more, resume=False)
            return
        # A client that claims more than the room has (the room was reset) gets it all.
        last_seq = await database_sync_to_async(selectors.room_last_seq)(room_id=self.room_id)
        self.floor = min(after, last_seq)
        since = self._changed_since_param()
        if since is not None:
            # Messages the client already has that changed while it was away.
            changed = await database_sync_to_async(selectors.room_changes)(
                room=self._room_ref(), up_to=self.floor, since=since
            )
            for message in changed:
                frame = {"type": "message.updated", "message": selectors.message_frame(message)}
                await self.send(text_data=_dumps(frame))
        for _page in range(BACKLOG_PAGES):
            messages, has_more = await history(
                room=self._room_ref(), after=self.floor, limit=selectors.HISTORY_MAX
            )
            sent, has_more = await self._send_history(messages, has_more, resume=True)
            if sent:
                self.floor = sent[-1].seq
            if not has_more:
                return

    def _room_ref(self):
        return selectors.Room(pk=self.room_id)

    async def _send_history(
        self, messages, has_more: bool, *, resume: bool, forward: bool | None = None, **echo
    ) -> tuple[list, bool]:
        """One `history` frame. A frame may hold at most ROOM_FRAME_MAX_BYTES (Daphne's
        --websocket-max-message-size bounds what it sends too): a page of long messages is
        cut, nearest its anchor first (after `after`: the oldest; otherwise the newest),
        and `has_more` says the rest is to fetch. Returns what was sent, and `has_more`."""
        if forward is None:
            forward = resume or "after" in echo
        frames = [selectors.message_frame(m) for m in messages]
        kept = _fit(frames, settings.ROOM_FRAME_MAX_BYTES - 1024, forward=forward)
        if kept < len(frames):
            has_more = True
            messages = messages[:kept] if forward else messages[len(messages) - kept :]
            frames = frames[:kept] if forward else frames[len(frames) - kept :]
        frame = {
            "type": "history",
            "messages": frames,
            "has_more": has_more,
            "resume": resume,
            **echo,
        }
        await self.send(text_data=_dumps(frame))
        return messages, has_more

    async def _send_pong(self, kind: str, **echo) -> None:
        last_seq = await database_sync_to_async(selectors.room_last_seq)(room_id=self.room_id)
        await self.send(
            text_data=_dumps({"type": kind, "last_seq": last_seq, "server_time": _now(), **echo})
        )

    async def disconnect(self, code):
        if not self.joined:
            return
        self.kicked = True  # nothing more goes out
        # Presence first, in the database: leaving the hub may need Redis, which may be
        # away; the room must not list this connection until the presence timeout.
        try:
            await database_sync_to_async(services.presence_leave)(
                room_id=self.room_id, channel_name=self.connection_id
            )
        finally:
            await room_hub().leave(self)

    # Receiving -------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.room_id is None or self.kicked:
            return  # refused or removed, closing
        # Error details speak the member's language.
        with translation.override(self.scope["user"].language):
            await self._receive(text_data)

    async def _receive(self, text_data) -> None:
        echo = {}
        try:
            content = frame_decode(text_data)
            echo = _echo(content)
            kind, args = frame_validate(content)
            await self.handlers[kind](self, echo=echo, **args)
        except ProtocolError as error:
            await self._send_error(error.code, error.detail, echo)
        except services.RoomError as error:
            await self._send_error(error.code, error.detail, echo, **error.extra)
            if error.code == "not_member":
                await self.close(CLOSE_NOT_MEMBER)
        except Exception:
            logger.exception("room %s: a frame failed", self.room_id)
            await self._send_error(
                "server_error", _("Something went wrong on the server; try again."), echo
            )

    async def _send_error(self, code: str, detail, echo: dict, **extra) -> None:
        frame = {"type": "error", "code": code, "detail": str(detail), **echo, **extra}
        await self.send(text_data=_dumps(frame))

    def _call(self, service, **kwargs):
        return database_sync_to_async(service)(
            user=self.scope["user"], room_id=self.room_id, **kwargs
        )

    async def on_message_send(self, *, echo, body, client_id):
        lag = room_hub().overloaded()
        if lag is not None:
            # Past saturation: refuse new work, nothing stored, rather than queue it.
            raise services.RoomError(
                "overloaded",
                _("The server is very busy; your message was not sent. Try again shortly."),
                retry_after=lag,
            )
        message, created = await self._call(services.message_send, body=body, client_id=client_id)
        if not created:
            # A retry: the original went out when it was stored; answer this socket alone.
            frame = {"type": "message.new", "message": selectors.message_frame(message)}
            await self.send(text_data=_dumps({**frame, **echo}))

    async def on_message_edit(self, *, echo, seq, body):
        await self._call(services.message_edit, seq=seq, body=body)

    async def on_message_delete(self, *, echo, seq):
        await self._call(services.message_delete, seq=seq)

    async def on_message_hide(self, *, echo, seq):
        await self._call(services.message_hide, seq=seq, hidden=True)

    async def on_message_restore(self, *, echo, seq):
        await self._call(services.message_hide, seq=seq, hidden=False)

    async def on_message_report(self, *, echo, seq, reason):
        await self._call(services.message_report, seq=seq, reason=reason)
        await self.send(text_data=_dumps({"type": "report.received", "seq": seq, **echo}))

    async def on_history_fetch(self, *, echo, before=None, after=None, limit=None):
        messages, has_more = await self._call(
            _history_for_reader,
            before=before,
            after=after,
            limit=limit or selectors.HISTORY_DEFAULT,
        )
        where = {"after": after} if after is not None else {"before": before}
        where = {k: v for k, v in where.items() if v is not None}
        await self._send_history(messages, has_more, resume=False, **where, **echo)

    async def on_ping(self, *, echo):
        await self._send_pong("pong", **echo)

    async def on_typing(self, *, echo):
        """Relayed to the room's other members, never stored; at most one every
        TYPING_INTERVAL seconds per socket (the rest are dropped quietly: the indicator
        only needs the latest)."""
        now = time.monotonic()
        if now - self.typed_at < TYPING_INTERVAL:
            return
        self.typed_at = now
        await event_send_async(
            f"room.{self.room_id}", typing_event(self.room_id, self.scope["user"])
        )

    handlers = {
        "message.send": on_message_send,
        "message.edit": on_message_edit,
        "message.delete": on_message_delete,
        "message.hide": on_message_hide,
        "message.restore": on_message_restore,
        "message.report": on_message_report,
        "history.fetch": on_history_fetch,
        "ping": on_ping,
        "typing": on_typing,
    }

    # From the hub: send only (no database, no thread hop) ------------------------------------

    def deliver(self, frame: Frame, seq: int | None):
        """A frame serialised once by its sender, for every socket in the room. Under
        Daphne it is written here and now (None is returned); otherwise this returns the
        awaitable that sends it."""
        if self.kicked:
            return None
        if self.pending is not None:
            self.pending.append((frame, seq))  # the backlog is still going out
            return None
        return self._deliver_live(frame, seq)

    def _deliver_live(self, frame: Frame, seq: int | None):
        if seq is not None and seq <= self.floor:
            return None  # already sent from history while resuming
        if self.outlet is None:
            return self.send(text_data=frame.text)
        if self.outlet.watch.paused:
            # The client stopped reading and 64 KB wait for it already: write nothing more
            # (memory stays bounded, the room is not held up). It catches up from history
            # through the seq gap; one that stays behind is closed.
            now = time.monotonic()
            self.skipped += 1
            if self.behind_since is None:
                self.behind_since = now
            elif now - self.behind_since > settings.ROOM_SLOW_CLIENT_SECONDS:
                self.kicked = True
                return self.close(CLOSE_TOO_SLOW)
            return None
        if self.skipped and self._has_caught_up():
            return self._tell_skipped(then=frame)
        self.outlet.send(frame)
        return None

    def _has_caught_up(self) -> bool:
        watch = self.outlet.watch
        return not watch.paused and time.monotonic() - watch.resumed_at >= CAUGHT_UP_SECONDS

    def _caught_up(self) -> None:
        """What waited for the client has drained (Twisted resumed us). Linux growing the
        socket's send buffer does that too, without the client reading: only once the
        buffer stays drained for CAUGHT_UP_SECONDS is the client told what it missed (and
        its clock towards ROOM_SLOW_CLIENT_SECONDS stopped)."""
        if self.skipped and not self.kicked:
            asyncio.get_running_loop().call_later(
                CAUGHT_UP_SECONDS + 0.05, lambda: asyncio.ensure_future(self._tell_skipped())
            )

    async def _tell_skipped(self, then: Frame | None = None) -> None:
        if self.kicked or not self._has_caught_up():
            return
        if not self.skipped:
            if then is not None:
                self.outlet.send(then)
            return
        skipped, self.skipped, self.behind_since = self.skipped, 0, None
        with translation.override(self.scope["user"].language):
            detail = _(
                "Your connection fell behind, so some updates were not sent; "
                "fetch the missing messages from history."
            )
        await self._send_error("slow_client", detail, {}, skipped=skipped)
        if then is not None:
            self.outlet.send(then)

    async def kick(self) -> None:
        """This user's membership ended: close within the second, send nothing more."""
        self.kicked = True
        await room_hub().leave(self)
        await self.close(CLOSE_NOT_MEMBER)


def _history_for_reader(*, user, room_id: int, **page):
    # A former member whose kick was lost reads nothing new.
    room, _manager = services.room_member_check(user=user, room_id=room_id)
    return selectors.room_history(room=room, **page)


def _with(online: list[dict], person: dict) -> list[dict]:
    """The online list with `person` in it, in the list's order (by name, then id)."""
    if any(entry["id"] == person["id"] for entry in online):
        return online
    return sorted([*online, person], key=lambda entry: (entry["name"], entry["id"]))


def _fit(frames: list[dict], budget: int, *, forward: bool) -> int:
    """How many of `frames`, from the start (forward) or the end, fit in `budget` bytes of
    JSON; at least one (a message alone always fits: its body is bounded)."""
    used = 0
    for count, frame in enumerate(frames if forward else reversed(frames)):
        used += len(_dumps(frame).encode()) + 1
        if used > budget:
            return max(1, count)
    return len(frames)


def _echo(content: dict) -> dict:
    """What an answer or error repeats from the frame it answers."""
    echo = {}
    for name in ("client_id", "request_id"):
        value = content.get(name)
        if isinstance(value, str) and len(value) <= 64:
            echo[name] = value
    return echo
