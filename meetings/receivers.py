"""meetings listens to communities: a member who leaves gives up their chair turns."""

from django.dispatch import receiver

from communities.signals import membership_ended

from .services import chair_member_left


@receiver(membership_ended, dispatch_uid="meetings.chair_member_left")
def membership_ended_chair(sender, membership, **kwargs):
    chair_member_left(membership=membership)
