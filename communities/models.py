from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.enums import Language
from accounts.timezones import validate_timezone

from .enums import JoinPolicy, MembershipStatus, Role


class Community(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(
        _("short name for addresses"),
        max_length=60,
        unique=True,
        help_text=_("Letters, numbers, hyphens and underscores; it appears in the page address."),
    )
    description = models.TextField(_("description"), max_length=5000, blank=True)
    language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.ENGLISH
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, default="America/Toronto", validators=[validate_timezone]
    )
    video_url = models.URLField(_("default video-call link"), max_length=500, blank=True)
    contact_email = models.EmailField(
        _("contact address"),
        blank=True,
        help_text=_(
            "Where replies to invitations go (their organizer); the site's sender address "
            "if empty. Use an address a person reads."
        ),
    )
    join_policy = models.CharField(
        _("who can join"), max_length=12, choices=JoinPolicy.choices, default=JoinPolicy.OPEN
    )
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("communities:detail", kwargs={"slug": self.slug})


class Membership(models.Model):
    """One person's standing in one community; one row per pair, kept when they leave."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("community")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=MembershipStatus.choices,
        default=MembershipStatus.PENDING,
    )
    requested_at = models.DateTimeField(_("requested"), null=True, blank=True)
    joined_at = models.DateTimeField(
        _("joined"), null=True, blank=True, help_text=_("When the membership last became active.")
    )
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
        help_text=_("Who approved, declined or removed it."),
    )
    willing_to_chair = models.BooleanField(
        _("willing to chair meetings"),
        default=True,
        help_text=_("Members who are not willing are left out of the chair's rota."),
    )

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["community", "user"]
        constraints = [
            models.UniqueConstraint(fields=["community", "user"], name="membership_once_per_pair"),
            models.CheckConstraint(
                condition=~Q(status=MembershipStatus.ACTIVE) | Q(joined_at__isnull=False),
                name="membership_active_has_joined_at",
            ),
        ]
        indexes = [models.Index(fields=["community", "status", "joined_at"])]

    def __str__(self) -> str:
        return gettext("%(user)s in %(community)s (%(status)s)") % {
            "user": self.user,
            "community": self.community,
            "status": self.get_status_display(),
        }

    def clean(self) -> None:
        # An active membership records when it began (new members are listed from it).
        if self.status == MembershipStatus.ACTIVE and self.joined_at is None:
            self.joined_at = dj_timezone.now()

    @property
    def is_active(self) -> bool:
        return self.status == MembershipStatus.ACTIVE

    @property
    def is_manager(self) -> bool:
        return self.is_active and self.role == Role.MANAGER


class Invitation(models.Model):
    """A single-use, expiring link that makes its holder a member."""

    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("community")
    )
    token = models.CharField(max_length=64, unique=True, editable=False)
    note = models.CharField(
        _("note"),
        max_length=200,
        blank=True,
        help_text=_("For your own records, e.g. who it is for. The invitee does not see it."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("used by"),
    )
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return gettext("%(community)s invitation %(pk)s") % {
            "community": self.community,
            "pk": self.pk,
        }

    def is_usable(self, now=None) -> bool:
        now = now or dj_timezone.now()
        return self.used_at is None and self.revoked_at is None and self.expires_at > now
