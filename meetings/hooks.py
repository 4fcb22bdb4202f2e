"""What the apps above add to meetings' pages; each registers in its AppConfig.ready(),
and meetings never imports them — the same pattern as `communities/hooks.py`.

- Sections of a chair's handover page (agendas: proposed topics; minutes: open action
  items).
- Links on a meeting's page, under "Joining", for its community's members (agendas: the
  agenda, the live page).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class HandoverSection:
    key: str
    title: str | Promise
    template: str  # rendered with the page's context plus what `context` returns
    context: Callable[..., dict]  # called as context(meeting=..., user=...)


handover_sections: list[HandoverSection] = []


def handover_section_register(section: HandoverSection) -> None:
    if all(existing.key != section.key for existing in handover_sections):
        handover_sections.append(section)


@dataclass(frozen=True)
class MeetingLink:
    label: str | Promise
    url_name: str  # reversed with the community's slug and the meeting's id


meeting_links: list[MeetingLink] = []


def meeting_link_register(link: MeetingLink) -> None:
    if link not in meeting_links:
        meeting_links.append(link)
