from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MeetingsConfig(AppConfig):
    name = "meetings"
    verbose_name = _("Meetings")

    def ready(self) -> None:
        from communities.hooks import CommunityLink, community_link_register

        from . import receivers  # noqa: F401

        community_link_register(CommunityLink(_("Meetings"), "meetings:list"))
        community_link_register(CommunityLink(_("Chair rota"), "meetings:rota"))
        community_link_register(
            CommunityLink(_("Meeting series"), "meetings:series_list", managers_only=True)
        )
