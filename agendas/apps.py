from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgendasConfig(AppConfig):
    name = "agendas"
    verbose_name = _("Agendas")

    def ready(self) -> None:
        from communities.hooks import (
            CommunityLink,
            community_created_register,
            community_link_register,
        )
        from meetings.hooks import HandoverSection, handover_section_register

        from . import selectors
        from .services import community_created_template

        community_created_register(community_created_template)
        community_link_register(CommunityLink(_("Topics for future meetings"), "agendas:topics"))
        community_link_register(
            CommunityLink(_("Standing agenda"), "agendas:template", managers_only=True)
        )
        handover_section_register(
            HandoverSection(
                key="agenda_timeline",
                title=_("The agenda"),
                template="agendas/handover_timeline.html",
                context=selectors.handover_timeline,
            )
        )
        handover_section_register(
            HandoverSection(
                key="agenda_topics",
                title=_("Topics for future meetings"),
                template="agendas/handover_topics.html",
                context=selectors.handover_topics,
            )
        )
