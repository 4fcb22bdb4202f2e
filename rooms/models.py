from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community

from .enums import MessageKind, RoomKind

BODY_MAX_LENGTH = 4000
CLIENT_ID_MAX_LENGTH = 64
REASON_MAX_LENGTH = 500


def room_group(room_id: int) -> str:
    """The real-time group of a room's sockets (`room.42`): built from the id alone."""
    return f"room.{room_id}"


class Room(models.Model):
    """A chat room. Its readers are the community's active members (and site staff)."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="rooms", verbose_name=_("community")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=RoomKind.choices)
    title = models.CharField(_("title"), max_length=200)
    # The last sequence number handed out; the next message takes last_seq + 1 under the
    # row lock of the update that increments it.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        constraints = [
            models.UniqueConstraint(
                fields=["community"],
                condition=Q(kind=RoomKind.COMMUNITY),
                name="room_one_community_room",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def group_name(self) -> str:
        return room_group(self.pk)


class Message(models.Model):
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="messages", verbose_name=_("room")
    )
    seq = models.PositiveBigIntegerField(_("number in the room"))
    kind = models.CharField(
        _("kind"), max_length=10, choices=MessageKind.choices, default=MessageKind.MEMBER
    )
    # None for the server's own messages (kind system).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("author"),
    )
    client_id = models.CharField(max_length=CLIENT_ID_MAX_LENGTH)
    body = models.TextField(_("text"), max_length=BODY_MAX_LENGTH)
    created_at = models.DateTimeField(_("sent"), default=dj_timezone.now)
    edited_at = models.DateTimeField(_("edited"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    hidden_at = models.DateTimeField(_("hidden"), null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("hidden by"),
    )
    # When it was last edited, deleted, hidden or restored (null: as sent).
    changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_seq_unique_in_room"),
            # A client retrying a send never stores a second message, across restarts and
            # server processes alike.
            models.UniqueConstraint(
                fields=["room", "author", "client_id"], name="message_client_id_once"
            ),
            # The server's message for one event (`client_id` names it) is posted once.
            models.UniqueConstraint(
                fields=["room", "client_id"],
                condition=Q(kind="system"),
                name="message_system_once",
            ),
            models.CheckConstraint(
                condition=Q(kind="system", author__isnull=True)
                | Q(kind="member", author__isnull=False),
                name="message_author_unless_system",
            ),
        ]
        indexes = [
            models.Index(fields=["author", "created_at"], name="message_author_recent"),
            models.Index(fields=["room", "changed_at"], name="message_room_changed"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq}"


class Report(models.Model):
    """A member's report of a message to the community's managers."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="reports", verbose_name=_("message")
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("reported by"),
    )
    reason = models.CharField(_("reason"), max_length=REASON_MAX_LENGTH)
    created_at = models.DateTimeField(_("reported"), default=dj_timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["message", "reporter"], name="report_once_per_member")
        ]

    def __str__(self) -> str:
        return f"report on {self.message}"


class Presence(models.Model):
    """One open connection to a room, refreshed by its heartbeat.

    Kept in the database so every server process sees it; a connection whose process died
    stops refreshing and drops out after PRESENCE_TIMEOUT.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    last_seen = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        indexes = [models.Index(fields=["room", "last_seen"], name="presence_room_recent")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}"
