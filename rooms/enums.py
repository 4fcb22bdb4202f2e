from django.db import models
from django.utils.translation import gettext_lazy as _


class RoomKind(models.TextChoices):
    COMMUNITY = "community", _("Community room")
    MEETING = "meeting", _("Meeting side chat")


class MessageKind(models.TextChoices):
    MEMBER = "member", _("From a member")
    SYSTEM = "system", _("From the server")  # e.g. "The meeting started", without author
