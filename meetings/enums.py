from django.db import models
from django.utils.translation import gettext_lazy as _


class MeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    CANCELLED = "cancelled", _("Cancelled")


class Response(models.TextChoices):
    YES = "yes", _("Yes")
    NO = "no", _("No")
    MAYBE = "maybe", _("Maybe")


class AttendanceStatus(models.TextChoices):
    PRESENT = "present", _("Present")
    REGRETS = "regrets", _("Absent with regrets")
    ABSENT = "absent", _("Absent")


class ChairSource(models.TextChoices):
    """Why a meeting has the chair it has (and, in the log, why it changed)."""

    ROTA = "rota", _("Rota")
    SWAP = "swap", _("Swap")
    OVERRIDE = "override", _("Manager's choice")
    ANSWERED_NO = "answered_no", _("The chair answered no")
    NOT_WILLING = "not_willing", _("The chair stopped being willing")
    LEFT = "left", _("The chair left the community")


class SwapStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    VOID = "void", _("No longer possible")


# The fields of a meeting a manager can change one by one; a series edit leaves a meeting's
# own changes alone.
OWN_FIELDS = ("start", "duration", "title", "video_url", "status")


class MailKind(models.TextChoices):
    """The meetings' emails in the outbox (its `kind`; each keyed `meeting:<id>`)."""

    INVITATION = "meetings/invitation", _("Invitations")
    UPDATE = "meetings/invitation_update", _("Updates")
    CANCELLATION = "meetings/invitation_cancel", _("Cancellations")
    HANDOVER = "meetings/email/chair_confirmed", _("Chair's handover")
