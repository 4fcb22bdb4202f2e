from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MinutesConfig(AppConfig):
    name = "minutes"
    verbose_name = _("Minutes")

    def ready(self) -> None:
        from agendas.hooks import (
            agenda_created_register,
            meeting_frame_register,
            run_ended_register,
        )
        from communities.hooks import CommunityLink, community_link_register
        from meetings.hooks import (
            HandoverSection,
            MeetingLink,
            handover_section_register,
            meeting_link_register,
        )

        from . import selectors
        from .consumers import FRAMES
        from .services import agenda_created_review, minutes_run_ended

        run_ended_register(minutes_run_ended)
        community_link_register(CommunityLink(_("My action items"), "minutes:action_items"))
        agenda_created_register(agenda_created_review)
        for frame in FRAMES:
            meeting_frame_register(frame)
        community_link_register(CommunityLink(_("Minutes"), "minutes:archive"))
        meeting_link_register(MeetingLink(_("The minutes"), "minutes:minutes"))
        handover_section_register(
            HandoverSection(
                key="action_items",
                title=_("Open action items"),
                template="minutes/handover_action_items.html",
                context=selectors.handover_action_items,
            )
        )
