"""The standing agenda template, each meeting's agenda, topics for future meetings, and the
live run: one row of state per meeting (`Run`, with a `version` every move raises by one),
the turns spoken, and the run log."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community
from meetings.models import Meeting

from .enums import ItemKind, RunStatus, TopicStatus

MAX_ITEM_MINUTES = 240
LINE_LENGTH = 300  # a roundtable line ("a challenge or success", "how others can help")

item_minutes = [MinValueValidator(0), MaxValueValidator(MAX_ITEM_MINUTES)]


class AgendaTemplate(models.Model):
    """A community's standing agenda: what each meeting's agenda starts from."""

    community = models.OneToOneField(
        Community,
        on_delete=models.CASCADE,
        related_name="agenda_template",
        verbose_name=_("community"),
    )
    turn_seconds = models.PositiveSmallIntegerField(
        _("roundtable turn (seconds)"),
        default=60,
        validators=[MinValueValidator(15), MaxValueValidator(600)],
    )
    updated_at = models.DateTimeField(_("updated"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("agenda template")
        verbose_name_plural = _("agenda templates")

    def __str__(self) -> str:
        return str(self.community)


class ItemFields(models.Model):
    """What a template's item and a meeting's item share."""

    kind = models.CharField(_("kind"), max_length=16, choices=ItemKind.choices)
    title = models.CharField(_("title"), max_length=200)
    minutes = models.PositiveSmallIntegerField(
        _("length in minutes"), default=5, validators=item_minutes
    )
    # The roundtable's length grows with the members: `minutes` plus one turn each.
    per_member = models.BooleanField(_("plus one turn per member"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        abstract = True
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title


class TemplateItem(ItemFields):
    template = models.ForeignKey(
        AgendaTemplate, on_delete=models.CASCADE, related_name="items", verbose_name=_("template")
    )

    class Meta(ItemFields.Meta):
        verbose_name = _("template item")
        verbose_name_plural = _("template items")


class Agenda(models.Model):
    """A meeting's agenda, made from its community's template."""

    meeting = models.OneToOneField(
        Meeting, on_delete=models.CASCADE, related_name="agenda", verbose_name=_("meeting")
    )
    focus_topic = models.CharField(_("focus topic"), max_length=200, blank=True)
    presenter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("presenter (a member or staff)"),
    )
    presenter_name = models.CharField(_("presenter (an outside guest)"), max_length=200, blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("agenda")
        verbose_name_plural = _("agendas")

    def __str__(self) -> str:
        return str(self.meeting)


class AgendaItem(ItemFields):
    agenda = models.ForeignKey(
        Agenda, on_delete=models.CASCADE, related_name="items", verbose_name=_("agenda")
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta(ItemFields.Meta):
        verbose_name = _("agenda item")
        verbose_name_plural = _("agenda items")


class Topic(models.Model):
    """A topic a member proposes for a future meeting ("Future agenda"); chosen at a
    meeting, it flows into the next meeting's agenda."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="topics", verbose_name=_("community")
    )
    title = models.CharField(_("topic"), max_length=200)
    details = models.TextField(_("details"), max_length=2000, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=TopicStatus.choices, default=TopicStatus.PROPOSED
    )
    chosen_at = models.ForeignKey(
        Meeting,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="topics_chosen",
        verbose_name=_("chosen at"),
    )
    created_at = models.DateTimeField(_("proposed"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.title


class Run(models.Model):
    """The live run of one meeting: the one row every process reads and every move changes
    with one conditional update (`… WHERE version = <seen>`), so exactly one of two
    concurrent moves wins; `version` rises by exactly one per change."""

    meeting = models.OneToOneField(
        Meeting, on_delete=models.CASCADE, related_name="run", verbose_name=_("meeting")
    )
    version = models.PositiveIntegerField(_("version"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.SCHEDULED
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    current_item = models.ForeignKey(
        AgendaItem,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("current item"),
    )
    # The roundtable: user ids in order; the speaker and when their turn ends (UTC).
    queue = models.JSONField(_("queue"), default=list, blank=True)
    done = models.JSONField(_("spoke"), default=list, blank=True)
    passed = models.JSONField(_("passed"), default=list, blank=True)
    speaker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("speaker"),
    )
    turn_started_at = models.DateTimeField(_("turn started"), null=True, blank=True)
    turn_ends_at = models.DateTimeField(_("turn ends"), null=True, blank=True)
    turn_paused_ms = models.PositiveIntegerField(
        _("time left when paused (ms)"), null=True, blank=True
    )
    turn_extensions = models.PositiveSmallIntegerField(_("extensions"), default=0)
    turn_warned = models.BooleanField(_("warning sent"), default=False)
    present = models.JSONField(_("present"), default=list, blank=True)
    handed_over = models.BooleanField(_("chair handed over"), default=False)
    # Since when the chair has had no socket open (the backup may act after 30 seconds).
    chair_away_since = models.DateTimeField(_("chair away since"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("live run")
        verbose_name_plural = _("live runs")

    def __str__(self) -> str:
        return f"{self.meeting} v{self.version}"


class Turn(models.Model):
    """One member's roundtable turn: how long they spoke, and their two lines."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="turns")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("member"),
    )
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    passed = models.BooleanField(_("passed"), default=False)
    challenge = models.CharField(_("a challenge or success"), max_length=LINE_LENGTH, blank=True)
    help_wanted = models.CharField(_("how others can help"), max_length=LINE_LENGTH, blank=True)
    private = models.BooleanField(_("not for the minutes"), default=False)

    class Meta:
        verbose_name = _("turn")
        verbose_name_plural = _("turns")
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.started_at:%H:%M:%S}"


class RunLogEntry(models.Model):
    """Every change of a run, with its time: item lengths, who spoke and how long."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log")
    version = models.PositiveIntegerField(_("version"))
    at = models.DateTimeField(_("when"))
    command = models.CharField(_("command"), max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("run log entry")
        verbose_name_plural = _("run log")
        ordering = ["run", "version"]
        constraints = [models.UniqueConstraint(fields=["run", "version"], name="agendas_log_once")]

    def __str__(self) -> str:
        return f"{self.run_id} v{self.version} {self.command}"
