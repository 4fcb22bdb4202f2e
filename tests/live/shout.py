"""A socket a newcomer adds on the live layer: everything it needs, nothing from rooms.

A community's members shout (in capitals) and everyone connected hears it. It is the
example of docs/live.md, kept working by tests/live/test_newcomer.py.
"""

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from django.urls import path

from communities.models import Community
from communities.selectors import community_can_read, membership_get
from live.clock import server_time
from live.codes import CLOSE_NOT_FOUND, CLOSE_NOT_MEMBER
from live.consumers import LiveConsumer
from live.errors import LiveError, Refused
from live.events import event_send_on_commit, frame_event
from live.frames import ClientFrame, Field
from live.registry import Beat, GroupKind, group_id, live_group_register
from live.security import SameOriginValidator
from live.transport import OutletMiddleware

# services.py: the rules, and the event after commit ---------------------------------------


def shout_group(community_id: int) -> str:
    return f"shout.{community_id}"


def shout_send(*, user, community_id: int, text: str) -> None:
    """The caller checked the membership when the socket opened."""
    text = text.strip()
    if text != text.upper():
        raise LiveError("not_loud", "Shout it: in capitals.")
    frame = {"type": "shout.new", "by": user.display_name, "text": text}
    event_send_on_commit(shout_group(community_id), frame_event(shout_group(community_id), frame))


# selectors.py ------------------------------------------------------------------------------


def shout_access(*, user, community_id: int) -> None:
    community = Community.objects.filter(pk=community_id).first()
    if community is None:
        raise Refused(CLOSE_NOT_FOUND)
    if not community_can_read(user=user, membership=membership_get(user=user, community=community)):
        raise Refused(CLOSE_NOT_MEMBER)


# consumers.py: handlers only ---------------------------------------------------------------


class ShoutConsumer(LiveConsumer):
    frames = {"shout.send": ClientFrame({"text": Field(str, minimum=1, maximum=200)}, action=True)}

    async def authorize(self):
        community_id = self.scope["url_route"]["kwargs"]["community_id"]
        await database_sync_to_async(shout_access)(user=self.user, community_id=community_id)
        self.community_id = community_id
        self.group = shout_group(community_id)
        self.tags = frozenset({f"community.{community_id}"})  # a membership's end closes it

    async def opened(self):
        await self.send_frame({"type": "shout.hello", "server_time": server_time()})

    async def on_shout_send(self, *, echo, text):
        await database_sync_to_async(shout_send)(
            user=self.user, community_id=self.community_id, text=text
        )

    handlers = {"shout.send": on_shout_send}


# apps.py, in ready(): the group kind and its heartbeat ------------------------------------


def shout_beat(connections: dict[str, tuple[str, int]]) -> dict[str, Beat]:
    groups = {group for group, _user in connections.values()}
    return {
        group: Beat(frame={"type": "shout.beat", "community": group_id(group)}) for group in groups
    }


live_group_register(GroupKind("shout", beat=shout_beat))

# routing.py (and chatserver/asgi.py's stack) -----------------------------------------------

application = OutletMiddleware(
    SameOriginValidator(
        AuthMiddlewareStack(
            URLRouter([path("ws/shout/<int:community_id>/", ShoutConsumer.as_asgi())])
        )
    )
)
