"""A meeting's minutes and every revision of them (each revision's Markdown kept), and
what the chair and managers record during the meeting: notes, decisions, action items;
the files staff attach to the meeting for its members."""

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _

from agendas.models import AgendaItem
from meetings.models import Meeting

from .enums import ActionStatus, MinutesStatus

BODY_LENGTH = 100_000  # a revision's Markdown
TITLE_LENGTH = 200
URL_LENGTH = 500
NOTE_LENGTH = 2000
DECISION_LENGTH = 1000
ACTION_LENGTH = 500


class Minutes(models.Model):
    """A meeting's minutes: its revisions, the latest the current one."""

    meeting = models.OneToOneField(
        Meeting, on_delete=models.CASCADE, related_name="minutes", verbose_name=_("meeting")
    )
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)
    recording_url = models.URLField(
        _("recording"),
        max_length=URL_LENGTH,
        blank=True,
        help_text=_("Where members watch the meeting's recording."),
    )

    class Meta:
        verbose_name = _("minutes")
        verbose_name_plural = _("minutes")

    def __str__(self) -> str:
        return str(self.meeting)


class MinutesRevision(models.Model):
    """One revision's Markdown and its state. Revision 1 is drafted from the live run and
    rewritten from it until a person edits it (`edited_at`); a change to an approved or
    distributed revision is the next revision, a draft again."""

    minutes = models.ForeignKey(
        Minutes, on_delete=models.CASCADE, related_name="revisions", verbose_name=_("minutes")
    )
    number = models.PositiveIntegerField(_("revision"))
    status = models.CharField(
        _("status"), max_length=12, choices=MinutesStatus.choices, default=MinutesStatus.DRAFT
    )
    body = models.TextField(_("text (Markdown)"), max_length=BODY_LENGTH)
    generated_at = models.DateTimeField(
        _("drafted from the meeting"),
        null=True,
        blank=True,
        help_text=_("When the text was last written from the meeting's run."),
    )
    edited_at = models.DateTimeField(
        _("edited"),
        null=True,
        blank=True,
        help_text=_("Empty while nobody has edited it: it is then redrafted from the meeting."),
    )
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("edited by"),
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    distributed_at = models.DateTimeField(_("distributed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("minutes revision")
        verbose_name_plural = _("minutes revisions")
        ordering = ["minutes", "number"]
        constraints = [
            models.UniqueConstraint(fields=["minutes", "number"], name="minutes_revision_once"),
            # At most one draft at a time: drafting twice (two processes) keeps one.
            models.UniqueConstraint(
                fields=["minutes"],
                condition=Q(status=MinutesStatus.DRAFT),
                name="minutes_one_draft",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.minutes} r{self.number} ({self.get_status_display()})"

    @property
    def is_untouched_draft(self) -> bool:
        return self.status == MinutesStatus.DRAFT and self.edited_at is None


class Note(models.Model):
    """A note taken during (or after) the meeting, on one of its items or on the whole."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="notes", verbose_name=_("meeting")
    )
    item = models.ForeignKey(
        AgendaItem,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notes",
        verbose_name=_("agenda item"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("author"),
    )
    text = models.TextField(_("note"), max_length=NOTE_LENGTH)
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["meeting", "created_at", "pk"]

    def __str__(self) -> str:
        return self.text[:60]


class Decision(models.Model):
    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("meeting")
    )
    item = models.ForeignKey(
        AgendaItem,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="decisions",
        verbose_name=_("agenda item"),
    )
    text = models.TextField(_("decision"), max_length=DECISION_LENGTH)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["meeting", "created_at", "pk"]

    def __str__(self) -> str:
        return self.text[:60]


class ActionItem(models.Model):
    """Something a member (its owner) undertook at a meeting, reviewed at the next ones
    until done or dropped."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="action_items", verbose_name=_("meeting")
    )
    item = models.ForeignKey(
        AgendaItem,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="action_items",
        verbose_name=_("agenda item"),
    )
    text = models.CharField(_("action"), max_length=ACTION_LENGTH)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="action_items",
        verbose_name=_("owner"),
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=ActionStatus.choices, default=ActionStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("status changed by"),
    )

    class Meta:
        verbose_name = _("action item")
        verbose_name_plural = _("action items")
        ordering = ["meeting", "created_at", "pk"]
        indexes = [
            models.Index(fields=["owner", "status"], name="minutes_action_owner"),
            models.Index(fields=["meeting", "status"], name="minutes_action_meeting"),
        ]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def is_open(self) -> bool:
        return self.status == ActionStatus.OPEN


def attachment_path(attachment: "Attachment", filename: str) -> str:
    """Under MEDIA_ROOT's private folder (which nothing serves), by meeting, a random
    name: the name a person gave the file is kept only in the row."""
    suffix = PurePath(filename).suffix.lower()
    return f"private/minutes/{attachment.meeting_id}/{uuid.uuid4().hex}{suffix}"


class Attachment(models.Model):
    """A file staff keep with a meeting (slides, a handout), for its community's members:
    served only through a view that checks who asks, as a download."""

    meeting = models.ForeignKey(
        Meeting,
        on_delete=models.CASCADE,
        related_name="minutes_attachments",
        verbose_name=_("meeting"),
    )
    title = models.CharField(_("title"), max_length=TITLE_LENGTH)
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=255)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["meeting", "uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.title


class LinesWithheld(models.Model):
    """A member's request, before the minutes were approved, that their roundtable lines
    be left out of them (as if they had marked them "not for the minutes")."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="lines_withheld", verbose_name=_("meeting")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("member"),
    )
    created_at = models.DateTimeField(_("asked"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("roundtable lines withheld")
        verbose_name_plural = _("roundtable lines withheld")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "user"], name="minutes_lines_withheld_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.meeting}"
