"""The meeting socket: its handlers, each calling one service or selector.

The protocol is in docs/protocol.md; the rules are in run.py and services.py; the
socket's plumbing (decoding, limits, slow clients, shutdown) is live's.
"""

from channels.db import database_sync_to_async
from django.apps import apps

from live.clock import server_time
from live.codes import CLOSE_NOT_FOUND, CLOSE_NOT_MEMBER
from live.consumers import LiveConsumer
from live.errors import LiveError, Refused
from meetings.models import Meeting

from . import protocol, selectors, services
from .hooks import MeetingFrame, meeting_frames
from .run import CHAIR_COMMANDS
from .timer import clock


def _command(command: str):
    async def handle(self, *, echo, **args):
        run = await database_sync_to_async(services.run_command)(
            actor=self.user, meeting=Meeting(pk=self.meeting_id), command=command, args=args
        )
        # The state goes to every socket of the meeting; this one also hears it was done.
        await self.send_frame({"type": "command.done", "version": run.version, **echo})

    return handle


def _hooked(entry: MeetingFrame):
    """A frame another app handles (agendas.hooks): its answer goes to this socket; a
    refusal with a code it did not declare is a server error."""

    def call(user, meeting_id: int, fields: dict) -> dict:
        try:
            return entry.handle(
                user=user,
                meeting_id=meeting_id,
                current_item_id=selectors.run_current_item(meeting_id=meeting_id),
                **fields,
            )
        except LiveError as error:
            if error.code not in entry.codes:
                raise RuntimeError(f"{entry.type}: undeclared code {error.code}") from error
            raise

    async def handle(self, *, echo, **fields):
        answer = await database_sync_to_async(call)(self.user, self.meeting_id, fields)
        await self.send_frame({**answer, **echo})

    return handle


# The apps that add frames registered them in their ready(): the class is made after.
apps.check_apps_ready()


class MeetingConsumer(LiveConsumer):
    frames = {
        **protocol.CLIENT_FRAMES,
        **{kind: entry.frame for kind, entry in meeting_frames.items()},
    }

    meeting: Meeting | None = None
    meeting_id: int | None = None
    watching = False

    async def authorize(self):
        try:
            meeting, _manager = await database_sync_to_async(selectors.meeting_access)(
                user=self.user, meeting_id=int(self.scope["url_route"]["kwargs"]["meeting_id"])
            )
        except selectors.MeetingNotFound:
            raise Refused(CLOSE_NOT_FOUND) from None
        except selectors.NotMeetingMember:
            raise Refused(CLOSE_NOT_MEMBER) from None
        self.meeting = meeting
        self.meeting_id = meeting.pk
        self.group = selectors.meeting_group(meeting.pk)
        # A membership that ends closes the community's sockets (rooms.receivers).
        self.tags = frozenset({f"community.{meeting.community_id}"})

    async def opened(self):
        await self.send_frame(await database_sync_to_async(self._arrive)())
        clock().watch(self.meeting_id)
        self.watching = True

    def _arrive(self) -> dict:
        """Present, a turn that ran out while nobody watched moved on, and the state: one
        trip to the database thread."""
        services.agenda_ensure(meeting=self.meeting)  # as the agenda page does on opening
        services.run_expire(meeting_id=self.meeting_id)
        services.connection_open(
            user=self.user, meeting_id=self.meeting_id, connection_id=self.connection_id
        )
        return selectors.run_state(meeting_id=self.meeting_id)

    async def closed(self):
        if self.watching:
            clock().unwatch(self.meeting_id)
            self.watching = False
        if self.meeting_id is None or not self.connection_id:
            return
        await database_sync_to_async(services.connection_close)(
            meeting_id=self.meeting_id, connection_id=self.connection_id
        )

    async def on_turn_lines(self, *, echo, challenge="", help="", private=False):
        turn = await database_sync_to_async(services.turn_lines_set)(
            user=self.user,
            meeting=Meeting(pk=self.meeting_id),
            challenge=challenge,
            help_wanted=help,
            private=private,
        )
        await self.send_frame(
            {
                "type": "turn.lines.saved",
                "user": turn.user_id,
                "challenge": turn.challenge,
                "help": turn.help_wanted,
                "private": turn.private,
                **echo,
            }
        )

    async def on_ping(self, *, echo):
        await self.send_frame({"type": "pong", "server_time": server_time(), **echo})

    handlers = {
        **{command: _command(command) for command in CHAIR_COMMANDS},
        "turn.lines": on_turn_lines,
        "ping": on_ping,
        **{kind: _hooked(entry) for kind, entry in meeting_frames.items()},
    }
