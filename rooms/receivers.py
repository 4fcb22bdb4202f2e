from .events import event_send_now


def membership_ended_kick(sender, membership, **kwargs):
    """A member who left or was removed is disconnected from the community's rooms at once.

    Sent after commit, so send now. If the event is lost, every service re-checks the
    membership and closes the socket at the next frame."""
    event_send_now(
        f"user.{membership.user_id}",
        {"type": "room.kick", "user": membership.user_id, "community": membership.community_id},
    )
