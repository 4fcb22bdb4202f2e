from live.codes import CLOSE_NOT_MEMBER
from live.events import event_send_now, kick_event, user_group

from .services import room_get_or_create_for_community


def membership_ended_kick(sender, membership, **kwargs):
    """A member who left or was removed is disconnected from the community's sockets (its
    room, its meetings' side chats: every socket tagged with the community) at once.

    Sent after commit, so send now. If the event is lost, every service re-checks the
    membership and closes the socket at the next frame."""
    event_send_now(
        user_group(membership.user_id),
        kick_event(
            user_id=membership.user_id,
            tag=f"community.{membership.community_id}",
            code=CLOSE_NOT_MEMBER,
        ),
    )


def community_created_room(*, community, **kwargs):
    """Every community has its chat room from the start (in the creating transaction)."""
    room_get_or_create_for_community(community=community)
