"""Hooks for the apps above: communities cannot import them, so they listen here."""

from django.dispatch import Signal

# Sent after the transaction commits, when a membership stops being active (the member
# left or was removed). Arguments: membership.
membership_ended = Signal()

# Sent after the transaction commits, when a membership becomes active (joined, accepted,
# invited in, or back). Arguments: membership.
membership_started = Signal()
