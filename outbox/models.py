from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .enums import EmailState


class Email(models.Model):
    """One message to one recipient: a row before it is a message. Unique on what it is
    (kind, key, version, to), so asking twice queues it once."""

    kind = models.CharField(_("kind"), max_length=100)
    key = models.CharField(_("object"), max_length=200)
    version = models.CharField(_("version"), max_length=50, default="1")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    to = models.EmailField(_("to"), max_length=254)
    from_email = models.CharField(_("from"), max_length=254, blank=True)
    subject = models.TextField(_("subject"))
    body = models.TextField(_("text"))
    html = models.TextField(_("HTML"), blank=True)
    # [{"content": "...", "mimetype": "text/calendar; method=REQUEST; charset=UTF-8"}]
    alternatives = models.JSONField(_("other parts"), default=list, blank=True)
    # Files attached to the message (text content only, e.g. an .ics):
    # [{"filename": "meeting.ics", "content": "BEGIN:VCALENDAR...", "mimetype": "text/calendar"}]
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    # A message carrying a one-time link (sign-up, password reset): its text is cleared
    # once the server has it, so nobody reads a live link in the admin later.
    # Messages about one thing to one address of which only the newest counts (a meeting's
    # invitation, its updates and its cancellation): queuing one replaces those of its
    # thread not sent yet, so an older version never arrives after a newer one.
    thread = models.CharField(_("thread"), max_length=200, blank=True)
    cleared_when_sent = models.BooleanField(_("cleared once sent"), default=False)
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    state = models.CharField(
        _("state"), max_length=10, choices=EmailState.choices, default=EmailState.QUEUED
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("email")
        verbose_name_plural = _("emails")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key", "version", "to"], name="outbox_email_once"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["thread", "to"], name="outbox_thread"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} v{self.version} to {self.to}"
