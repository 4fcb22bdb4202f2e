from django.db import models
from django.utils.translation import gettext_lazy as _


class MinutesStatus(models.TextChoices):
    """A revision's state: drafted (from the run, then edited), approved by the chair or a
    manager, distributed to the members. A change to approved minutes is a new revision."""

    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    DISTRIBUTED = "distributed", _("Distributed")


class ActionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    DROPPED = "dropped", _("Dropped")


class MailKind(models.TextChoices):
    """The outbox `kind` of the minutes' emails (their label on the progress table)."""

    MINUTES = "minutes", _("Minutes")
