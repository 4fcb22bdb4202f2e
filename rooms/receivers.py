from .events import event_send_now
from .services import room_get_or_create_for_community


def membership_ended_kick(sender, membership, **kwargs):
    """A member who left or was removed is disconnected from the community's rooms at once.

    Sent after commit, so send now. If the event is lost, every service re-checks the
    membership and closes the socket at the next frame."""
    event_send_now(
        f"user.{membership.user_id}",
        {"type": "room.kick", "user": membership.user_id, "community": membership.community_id},
    )


def community_created_room(*, community, **kwargs):
    """Every community has its chat room from the start (in the creating transaction)."""
    room_get_or_create_for_community(community=community)
