from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _

from .enums import Language, Province
from .managers import UserManager
from .timezones import validate_timezone


class User(AbstractBaseUser, PermissionsMixin):
    """A person: signs in with an email address and carries their profile."""

    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=80)
    background = models.CharField(
        _("background"),
        max_length=200,
        blank=True,
        help_text=_("For example: family physician, Kamloops."),
    )
    interests = models.TextField(_("interests"), max_length=1000, blank=True)
    province = models.CharField(
        _("province or territory"), max_length=2, choices=Province.choices, blank=True
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, default="America/Toronto", validators=[validate_timezone]
    )
    language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.ENGLISH
    )
    is_staff = models.BooleanField(
        _("site administrator"),
        default=False,
        help_text=_("Administrators can sign in to the admin and manage everything."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # A sign-up makes its account inactive and unconfirmed until the address's owner
    # follows the emailed link; staff deactivating an account leaves this True.
    email_confirmed = models.BooleanField(
        _("email address confirmed"),
        default=True,
        help_text=_("False while a new sign-up waits for its owner to follow the emailed link."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=dj_timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["display_name", "email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_case_insensitive_unique")
        ]

    def __str__(self) -> str:
        return self.display_name or self.email

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.display_name

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()
