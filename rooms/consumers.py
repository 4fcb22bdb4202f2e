"""The room socket: its handlers, each calling one service or selector.

The protocol is in docs/protocol.md; the rules are in services.py and selectors.py; the
socket's plumbing (decoding, limits, slow clients, resume, shutdown) is live's.
"""

from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from live.codes import CLOSE_NOT_FOUND, CLOSE_NOT_MEMBER
from live.consumers import LiveConsumer
from live.errors import ProtocolError, Refused

from . import protocol, selectors, services
from .models import Room, room_group

BACKLOG_PAGES = 10  # at most this many pages of HISTORY_MAX on resume; the rest on request


class RoomConsumer(LiveConsumer):
    frames = protocol.CLIENT_FRAMES

    room_id: int | None = None
    is_manager = False

    # Connecting ------------------------------------------------------------------------

    async def authorize(self):
        try:
            room, self.is_manager = await database_sync_to_async(selectors.room_access)(
                user=self.user, room_id=int(self.scope["url_route"]["kwargs"]["room_id"])
            )
        except selectors.RoomNotFound:
            raise Refused(CLOSE_NOT_FOUND) from None
        except selectors.NotRoomMember:
            raise Refused(CLOSE_NOT_MEMBER) from None
        self.room = room
        self.room_id = room.pk
        self.group = room_group(room.pk)
        # A membership that ends closes the community's sockets (rooms.receivers).
        self.tags = frozenset({f"community.{room.community_id}"})

    async def opened(self):
        online = self.hub.presence_known(self.group)
        await self.send_frame(await database_sync_to_async(self._arrive)(online))
        await self._send_backlog(self.query_int("after"))
        # A socket holds ids, not the room and its community (memory per connection).
        self.room = Room(pk=self.room_id)

    def _arrive(self, online: list | None) -> dict:
        """Presence and the room's state in one trip to the database thread."""
        services.presence_join(
            user=self.user, room_id=self.room_id, channel_name=self.connection_id
        )
        return selectors.room_state(
            room=self.room, user=self.user, is_manager=self.is_manager, online=online
        )

    async def _send_backlog(self, after: int | None) -> None:
        history = database_sync_to_async(selectors.room_history)
        if after is None:
            messages, has_more = await history(room=self.room)
            self.floor = messages[-1].seq if messages else 0
            await self._send_history(messages, has_more, resume=False, forward=False)
            return
        # A client that claims more than the room has (the room was reset) gets it all.
        last_seq = await database_sync_to_async(selectors.room_last_seq)(room_id=self.room_id)
        self.floor = min(after, last_seq)
        since = self.query_time("changed_since")
        if since is not None:
            # Messages the client already has that changed while it was away.
            changed = await database_sync_to_async(selectors.room_changes)(
                room=self.room, up_to=self.floor, since=since
            )
            for message in changed:
                await self.send_frame(protocol.updated_frame(message))
        for _page in range(BACKLOG_PAGES):
            messages, has_more = await history(
                room=self.room, after=self.floor, limit=selectors.HISTORY_MAX
            )
            sent, has_more = await self._send_history(messages, has_more, resume=True, forward=True)
            if sent:
                self.floor = sent[-1].seq
            if not has_more:
                return

    async def _send_history(self, messages, has_more, *, resume, forward, **echo):
        frame, sent = protocol.history_frame(
            messages, has_more, resume=resume, forward=forward, **echo
        )
        await self.send_frame(frame)
        return sent, frame["has_more"]

    async def closed(self):
        await database_sync_to_async(services.presence_leave)(
            room_id=self.room_id, channel_name=self.connection_id
        )

    # Handlers --------------------------------------------------------------------------

    def _call(self, service, **kwargs):
        return database_sync_to_async(service)(user=self.user, room_id=self.room_id, **kwargs)

    async def on_message_send(self, *, echo, body, client_id):
        message, created = await self._call(services.message_send, body=body, client_id=client_id)
        if not created:
            # A retry: the original went out when it was stored; answer this socket alone.
            await self.send_frame(protocol.new_frame(message, **echo))

    async def on_message_edit(self, *, echo, seq, body):
        await self._call(services.message_edit, seq=seq, body=body)

    async def on_message_delete(self, *, echo, seq):
        await self._answer_unchanged(await self._call(services.message_delete, seq=seq), echo)

    async def on_message_hide(self, *, echo, seq):
        result = await self._call(services.message_hide, seq=seq, hidden=True)
        await self._answer_unchanged(result, echo)

    async def on_message_restore(self, *, echo, seq):
        result = await self._call(services.message_hide, seq=seq, hidden=False)
        await self._answer_unchanged(result, echo)

    async def _answer_unchanged(self, result, echo) -> None:
        """A change already made tells nobody: this socket alone hears how it stands."""
        message, changed = result
        if not changed:
            await self.send_frame(protocol.updated_frame(message, **echo))

    async def on_message_report(self, *, echo, seq, reason):
        await self._call(services.message_report, seq=seq, reason=reason)
        await self.send_frame({"type": "report.received", "seq": seq, **echo})

    async def on_history_fetch(self, *, echo, before=None, after=None, limit=None):
        if before is not None and after is not None:
            raise ProtocolError("invalid_field", _("Give “before” or “after”, not both."))
        messages, has_more = await self._call(
            selectors.room_history_for,
            before=before,
            after=after,
            limit=limit or selectors.HISTORY_DEFAULT,
        )
        where = {"after": after} if after is not None else {"before": before}
        where = {k: v for k, v in where.items() if v is not None}
        await self._send_history(
            messages, has_more, resume=False, forward=after is not None, **where, **echo
        )

    async def on_ping(self, *, echo):
        last_seq = await database_sync_to_async(selectors.room_last_seq)(room_id=self.room_id)
        await self.send_frame(protocol.pong_frame(last_seq, **echo))

    async def on_typing(self, *, echo):
        services.typing_send(user=self.user, room_id=self.room_id)

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
