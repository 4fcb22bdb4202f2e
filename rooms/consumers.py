"""The room socket: authenticate, authorise, decode, call a service, send.

The protocol is in docs/protocol.md; the rules are in services.py and selectors.py.
"""

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from . import selectors, services
from .protocol import ProtocolError, frame_decode, frame_validate

logger = logging.getLogger(__name__)

CLOSE_NOT_SIGNED_IN = 4401
CLOSE_NOT_MEMBER = 4403
CLOSE_NOT_FOUND = 4404
BACKLOG_PAGES = 10  # at most this many pages of HISTORY_MAX on resume; the rest on request


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _dumps(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"))


class RoomConsumer(AsyncJsonWebsocketConsumer):
    room_id: int | None = None
    community_id: int | None = None
    floor = 0  # live messages at or below this seq were already sent from history
    kicked = False
    heartbeat_task: asyncio.Task | None = None

    # Connecting ------------------------------------------------------------------------

    async def connect(self):
        # Accept first, then close with a code: closing before accept() makes Daphne answer
        # the handshake with HTTP 403, and the browser never learns why.
        await self.accept()
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
        # Join the group before reading history: a message committed meanwhile arrives
        # live as well, and `floor` drops the copy. No gap, no duplicate.
        await self.channel_layer.group_add(room.group_name, self.channel_name)
        await self.channel_layer.group_add(f"user.{user.pk}", self.channel_name)
        await database_sync_to_async(services.presence_join)(
            user=user, room_id=room.pk, channel_name=self.channel_name
        )
        state = await database_sync_to_async(self._state)(room, is_manager)
        await self.send(text_data=_dumps(state))
        await self._send_backlog(self._after_param())
        self.heartbeat_task = asyncio.create_task(self._heartbeat())

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

    def _state(self, room, is_manager: bool) -> dict:
        user = self.scope["user"]
        return {
            "type": "room.state",
            "room": {"id": room.pk, "title": room.title, "kind": room.kind},
            "last_seq": selectors.room_last_seq(room_id=room.pk),
            "online": selectors.room_online(room_id=room.pk),
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
            if messages:
                self.floor = messages[-1].seq
            await self._send_history(messages, has_more, resume=True)
            if not has_more:
                return

    def _room_ref(self):
        return selectors.Room(pk=self.room_id)

    async def _send_history(self, messages, has_more: bool, *, resume: bool, **echo) -> None:
        frame = {
            "type": "history",
            "messages": [selectors.message_frame(m) for m in messages],
            "has_more": has_more,
            "resume": resume,
            **echo,
        }
        await self.send(text_data=_dumps(frame))

    async def _heartbeat(self) -> None:
        """Refresh presence and tell the client the room's last seq, so even a lost last
        message shows as a gap."""
        user = self.scope["user"]
        while True:
            await asyncio.sleep(settings.ROOM_HEARTBEAT_SECONDS)
            try:
                await database_sync_to_async(services.presence_heartbeat)(
                    user=user, room_id=self.room_id, channel_name=self.channel_name
                )
                await self._send_pong("heartbeat")
            except Exception:
                logger.warning("heartbeat failed in room %s", self.room_id, exc_info=True)

    async def _send_pong(self, kind: str, **echo) -> None:
        last_seq = await database_sync_to_async(selectors.room_last_seq)(room_id=self.room_id)
        await self.send(
            text_data=_dumps({"type": kind, "last_seq": last_seq, "server_time": _now(), **echo})
        )

    async def disconnect(self, code):
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.heartbeat_task
        if self.room_id is None:
            return
        # Presence first, in the database: leaving the groups needs Redis, which may be
        # away; the room must not list this connection until the presence timeout.
        await database_sync_to_async(services.presence_leave)(
            room_id=self.room_id, channel_name=self.channel_name
        )
        for group in (f"room.{self.room_id}", f"user.{self.scope['user'].pk}"):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.warning("could not leave %s", group, exc_info=True)

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

    handlers = {
        "message.send": on_message_send,
        "message.edit": on_message_edit,
        "message.delete": on_message_delete,
        "message.hide": on_message_hide,
        "message.restore": on_message_restore,
        "message.report": on_message_report,
        "history.fetch": on_history_fetch,
        "ping": on_ping,
    }

    # From the channel layer: send only (no database, no thread hop) ------------------------

    async def room_frame(self, event):
        """A frame serialised once by the sender, for every connection in the room."""
        seq = event.get("seq")
        if self.kicked or (seq is not None and seq <= self.floor):
            return  # removed from the room, or already sent from history while resuming
        await self.send(text_data=event["text"])

    async def room_kick(self, event):
        """This user's membership ended: close within the second, send nothing more."""
        if event["community"] == self.community_id:
            self.kicked = True
            await self.channel_layer.group_discard(f"room.{self.room_id}", self.channel_name)
            await self.close(CLOSE_NOT_MEMBER)


def _history_for_reader(*, user, room_id: int, **page):
    # A former member whose kick was lost reads nothing new.
    room, _manager = services.room_member_check(user=user, room_id=room_id)
    return selectors.room_history(room=room, **page)


def _echo(content: dict) -> dict:
    """What an answer or error repeats from the frame it answers."""
    echo = {}
    for name in ("client_id", "request_id"):
        value = content.get(name)
        if isinstance(value, str) and len(value) <= 64:
            echo[name] = value
    return echo
