from django.db import models
from django.utils.translation import gettext_lazy as _


class EmailState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # Not sent, and never to be: a newer message of its thread took its place.
    SUPERSEDED = "superseded", _("Replaced by a newer one")
