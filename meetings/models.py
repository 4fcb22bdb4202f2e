"""Meeting series, meetings, the chair's rota log and swaps, answers and attendance.

Times are stored in UTC (`starts_at`) with the IANA zone they were set in; a series keeps
its rule as RFC 5545 RRULE text with the local start date and time, expanded in
`meetings.recurrence`.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _

from accounts.timezones import validate_timezone
from communities.models import Community

from .enums import AttendanceStatus, ChairSource, MeetingStatus, Response, SwapStatus
from .rota import reason_words

MAX_MINUTES = 8 * 60

duration_validators = [MinValueValidator(1), MaxValueValidator(MAX_MINUTES)]


class Series(models.Model):
    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="series", verbose_name=_("community")
    )
    title = models.CharField(_("title"), max_length=200)
    rrule = models.CharField(
        _("recurrence rule"),
        max_length=200,
        help_text=_("RFC 5545 RRULE, e.g. FREQ=MONTHLY;BYDAY=2TU"),
    )
    first_date = models.DateField(_("first date"))
    start_time = models.TimeField(_("local start time"))
    timezone = models.CharField(_("time zone"), max_length=64, validators=[validate_timezone])
    duration_minutes = models.PositiveSmallIntegerField(
        _("length in minutes"), default=60, validators=duration_validators
    )
    video_url = models.URLField(_("video-call link"), max_length=500, blank=True)
    invite_automatically = models.BooleanField(
        _("send invitations automatically"),
        default=False,
        help_text=_(
            "Each meeting's invitations go out by themselves the set number of days before it."
        ),
    )
    invite_days_before = models.PositiveSmallIntegerField(
        _("days before the meeting"),
        default=21,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("meeting series")
        verbose_name_plural = _("meeting series")
        ordering = ["community", "title"]

    def __str__(self) -> str:
        return self.title


class Meeting(models.Model):
    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="meetings", verbose_name=_("community")
    )
    series = models.ForeignKey(
        Series,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="meetings",
        verbose_name=_("series"),
    )
    occurrence_date = models.DateField(
        _("date in the series"),
        null=True,
        blank=True,
        help_text=_("The local date the series' rule gave this meeting (it keeps it when moved)."),
    )
    title = models.CharField(_("title"), max_length=200)
    starts_at = models.DateTimeField(_("starts"))
    duration_minutes = models.PositiveSmallIntegerField(
        _("length in minutes"), default=60, validators=duration_validators
    )
    ends_at = models.DateTimeField(_("ends"), editable=False)
    timezone = models.CharField(_("time zone"), max_length=64, validators=[validate_timezone])
    video_url = models.URLField(_("video-call link"), max_length=500, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.SCHEDULED
    )
    sequence = models.PositiveIntegerField(
        _("sequence"),
        default=0,
        help_text=_("Rises by one with each change members must see (calendar updates use it)."),
    )
    own_changes = models.JSONField(
        _("changed one by one"),
        default=list,
        blank=True,
        help_text=_("Fields changed on this meeting alone; a series edit leaves them."),
    )
    room = models.OneToOneField(
        "rooms.Room",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="meeting",
        verbose_name=_("side chat"),
    )
    chair = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("chair"),
    )
    chair_source = models.CharField(
        _("chair chosen by"), max_length=12, choices=ChairSource.choices, blank=True
    )
    chair_why = models.JSONField(
        _("why this chair"),
        default=dict,
        blank=True,
        help_text=_("As data; shown in words in each reader's language."),
    )
    chair_confirmed_at = models.DateTimeField(_("chair confirmed"), null=True, blank=True)
    backup = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("backup chair"),
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    # Set when its invitations first went out: from then on changes members must see
    # send updates, and members who join get one.
    invitations_sent_at = models.DateTimeField(_("invitations sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "occurrence_date"],
                condition=Q(series__isnull=False),
                name="meeting_once_per_series_date",
            ),
        ]
        indexes = [models.Index(fields=["community", "ends_at"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.starts_at:%Y-%m-%d})"

    def save(self, *args, **kwargs):
        # ends_at is derived, kept as a column so lists filter on it in SQL.
        self.ends_at = self.starts_at + timedelta(minutes=self.duration_minutes)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "ends_at"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse(
            "meetings:detail", kwargs={"slug": self.community.slug, "meeting_id": self.pk}
        )

    @property
    def chair_reason(self) -> str:
        return reason_words(self.chair_why)

    @property
    def is_cancelled(self) -> bool:
        return self.status == MeetingStatus.CANCELLED

    def has_started(self, now=None) -> bool:
        return (now or dj_timezone.now()) >= self.starts_at

    def has_ended(self, now=None) -> bool:
        return (now or dj_timezone.now()) >= self.ends_at


class ChairChange(models.Model):
    """The rota's log: every assignment of a chair, with who, when and why."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="chair_changes", verbose_name=_("meeting")
    )
    chair = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("new chair"),
    )
    previous = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("previous chair"),
    )
    kind = models.CharField(_("why"), max_length=12, choices=ChairSource.choices)
    why = models.JSONField(_("why this chair"), default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        help_text=_("Empty when the rota's periodic work made the change."),
    )
    at = models.DateTimeField(_("when"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("chair change")
        verbose_name_plural = _("chair changes")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.meeting}: {self.get_kind_display()}"

    @property
    def reason(self) -> str:
        return reason_words(self.why)


class ChairSwap(models.Model):
    """One member proposes to swap their upcoming turn with another's; the other accepts."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="+", verbose_name=_("community")
    )
    proposer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    proposer_meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="+", verbose_name=_("their turn")
    )
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("proposed to"),
    )
    partner_meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="+", verbose_name=_("the other's turn")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=SwapStatus.choices, default=SwapStatus.PROPOSED
    )
    created_at = models.DateTimeField(_("proposed"), default=dj_timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        verbose_name = _("chair swap")
        verbose_name_plural = _("chair swaps")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.proposer_meeting} ↔ {self.partner_meeting} ({self.get_status_display()})"


class Answer(models.Model):
    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="answers", verbose_name=_("meeting")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("member"),
    )
    response = models.CharField(_("answer"), max_length=5, choices=Response.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    answered_at = models.DateTimeField(_("answered"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        ordering = ["meeting", "user"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "user"], name="answer_once_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.meeting}: {self.get_response_display()}"


class Attendance(models.Model):
    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="attendance", verbose_name=_("meeting")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("member"),
    )
    status = models.CharField(_("attendance"), max_length=8, choices=AttendanceStatus.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendance")
        ordering = ["meeting", "user"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "user"], name="attendance_once_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.meeting}: {self.get_status_display()}"


class Invitation(models.Model):
    """Who has this meeting in their calendar through our emails, and at which SEQUENCE:
    updates go to them, and a cancellation when the meeting is cancelled or they leave."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("meeting")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="meeting_invitations",
        verbose_name=_("member"),
    )
    sequence = models.PositiveIntegerField(_("last version sent"))
    withdrawn = models.BooleanField(
        _("cancellation sent"), default=False, help_text=_("They were sent its cancellation.")
    )
    sent_at = models.DateTimeField(_("last sent"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "user"], name="meetings_invitation_once")
        ]

    def __str__(self) -> str:
        return f"{self.meeting} → {self.user}"


def feed_token_new() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A member's private subscription address: one community's meetings, or (without a
    community) those of every community they are an active member of. The token in its
    address is the only credential calendar apps can send, so it is long and random and
    a reset replaces it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
        verbose_name=_("member"),
    )
    community = models.ForeignKey(
        Community,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("community"),
        help_text=_("Empty: the meetings of all the member's communities."),
    )
    token = models.CharField(
        _("secret address part"), max_length=64, unique=True, editable=False, default=feed_token_new
    )
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("calendar subscription")
        verbose_name_plural = _("calendar subscriptions")
        ordering = ["-created_at"]
        # Two conditional constraints, not one with nulls_distinct=False: SQLite and
        # PostgreSQL before 15 cannot enforce that, and a NULL community counts once too.
        constraints = [
            models.UniqueConstraint(
                fields=["user", "community"],
                condition=Q(community__isnull=False),
                name="calendar_feed_once_per_community",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(community__isnull=True),
                name="calendar_feed_once_for_all",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.community or _('all communities')}"
