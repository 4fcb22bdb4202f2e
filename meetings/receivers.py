"""meetings listens to communities: a member who leaves gives up their chair turns and
gets the cancellations of their invitations; a member who joins gets those already sent."""

from django.dispatch import receiver

from communities.signals import membership_ended, membership_started

from .services import chair_member_left, invitations_member_joined, invitations_member_left


@receiver(membership_ended, dispatch_uid="meetings.chair_member_left")
def membership_ended_chair(sender, membership, **kwargs):
    # The cancellations first: the chair's replacement then updates only those who stay.
    invitations_member_left(membership=membership)
    chair_member_left(membership=membership)


@receiver(membership_started, dispatch_uid="meetings.invitations_member_joined")
def membership_started_invitations(sender, membership, **kwargs):
    invitations_member_joined(membership=membership)
