from django.apps import AppConfig
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _


def meetings_beat(connections: dict[str, tuple[str, int]]) -> dict:
    """The heartbeat of this process's meeting sockets: presence refreshed (and the dead
    processes' sockets dropped), and a `heartbeat` with the run's version and the clock."""
    from live.clock import server_time
    from live.registry import Beat, group_id

    from . import selectors, services

    by_connection = {cid: (group_id(group), user) for cid, (group, user) in connections.items()}
    meeting_ids = services.connections_beat(connections=by_connection)
    versions = selectors.run_versions(meeting_ids=meeting_ids)
    now = server_time()
    return {
        selectors.meeting_group(meeting_id): Beat(
            frame={"type": "heartbeat", "version": versions.get(meeting_id, 0), "server_time": now}
        )
        for meeting_id in meeting_ids
    }


def invitation_agenda_text(*, meeting, reader) -> str:
    """The published agenda in the meeting's invitation, in `reader`'s language and zone
    (active when meetings calls it): each item at its planned start, with its length, and
    the focus presentation's topic and presenter under its item."""
    from accounts.timezones import zone_place

    from . import selectors
    from .enums import ItemKind

    found = selectors.invitation_agenda(meeting=meeting)
    if found is None:
        return ""
    agenda = found.agenda
    focus = []
    if agenda.focus_topic:
        focus.append(gettext("Topic: %(topic)s") % {"topic": agenda.focus_topic})
    if agenda.presenter is not None:
        focus.append(gettext("Presented by %(name)s") % {"name": agenda.presenter.display_name})
    elif agenda.presenter_name:
        focus.append(gettext("Presented by %(name)s (guest)") % {"name": agenda.presenter_name})
    lines = [gettext("Agenda (%(place)s time):") % {"place": zone_place(reader.timezone)}]
    for row in found.timeline.rows:
        length = ngettext("%(minutes)s min", "%(minutes)s min", row.minutes) % {
            "minutes": row.minutes
        }
        start = formats.time_format(timezone.localtime(row.starts_at))
        lines.append(f"{start}  {row.item.title} ({length})")
        if row.item.kind == ItemKind.FOCUS:
            lines += [" " * (len(start) + 2) + line for line in focus]
            focus = []
    return "\n".join(lines + focus)


class AgendasConfig(AppConfig):
    name = "agendas"
    verbose_name = _("Agendas")

    def ready(self) -> None:
        from communities.hooks import (
            CommunityLink,
            community_created_register,
            community_link_register,
        )
        from meetings.hooks import (
            HandoverSection,
            InvitationSection,
            MeetingLink,
            handover_section_register,
            invitation_section_register,
            meeting_link_register,
        )

        from . import selectors
        from .services import community_created_template

        community_created_register(community_created_template)
        community_link_register(CommunityLink(_("Topics for future meetings"), "agendas:topics"))
        community_link_register(
            CommunityLink(_("Standing agenda"), "agendas:template", managers_only=True)
        )
        meeting_link_register(MeetingLink(_("The agenda"), "agendas:agenda"))
        meeting_link_register(MeetingLink(_("Follow the meeting live"), "agendas:live"))
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

        invitation_section_register(
            InvitationSection(
                key="agenda",
                text=invitation_agenda_text,
                prefetch=selectors.invitation_meetings,
            )
        )

        from live.registry import GroupKind, live_group_register

        live_group_register(GroupKind("meeting", beat=meetings_beat))
