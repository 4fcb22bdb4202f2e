from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = _("Chat rooms")

    def ready(self):
        from communities.hooks import (
            CommunityLink,
            community_created_register,
            community_link_register,
        )
        from communities.signals import membership_ended
        from live.registry import live_group_register

        from .protocol import ROOM_GROUPS
        from .receivers import community_created_room, membership_ended_kick

        live_group_register(ROOM_GROUPS)
        membership_ended.connect(membership_ended_kick, dispatch_uid="rooms.kick")
        community_link_register(CommunityLink(_("Chat room"), "rooms:room"))
        community_link_register(
            CommunityLink(_("Moderation"), "rooms:moderation", managers_only=True)
        )
        community_created_register(community_created_room)
