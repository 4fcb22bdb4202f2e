from django.db import models
from django.utils.translation import gettext_lazy as _


class JoinPolicy(models.TextChoices):
    OPEN = "open", _("Open: anyone signed in joins at once")
    REQUEST = "request", _("By request: a manager approves each request")
    INVITATION = "invitation", _("By invitation only: hidden from everyone else")


class Role(models.TextChoices):
    MEMBER = "member", _("Member")
    MANAGER = "manager", _("Manager")


class MembershipStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACTIVE = "active", _("Active")
    DECLINED = "declined", _("Declined")
    LEFT = "left", _("Left")
    REMOVED = "removed", _("Removed")
