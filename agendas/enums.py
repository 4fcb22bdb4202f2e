from django.db import models
from django.utils.translation import gettext_lazy as _


class ItemKind(models.TextChoices):
    """The standing agenda's five items (PRODUCT.md), and any other the chair adds."""

    INTRODUCTIONS = "introductions", _("New members introduction")
    ROUNDTABLE = "roundtable", _("Current progress / initiatives roundtable")
    FOCUS = "focus", _("Focus presentation")
    DISCUSSION = "discussion", _("Open discussion")
    FUTURE = "future", _("Future agenda and next meeting")
    # Added by minutes while action items are open (agendas.services.agenda_item_kind_ensure).
    ACTIONS = "actions", _("Review of action items")
    OTHER = "other", _("Other item")


class RunStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")


class QueueOrder(models.TextChoices):
    RANDOM = "random", _("Random")
    ALPHABETICAL = "alphabetical", _("Alphabetical")


class TopicStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    CHOSEN = "chosen", _("Chosen for a meeting")
    DONE = "done", _("Taken up")
    DROPPED = "dropped", _("Dropped")
