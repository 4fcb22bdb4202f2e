"""What the apps above add to meetings' pages; each registers in its AppConfig.ready(),
and meetings never imports them — the same pattern as `communities/hooks.py`.

- Sections of a chair's handover page (agendas: proposed topics; minutes: open action
  items).
- Links on a meeting's page, under "Joining", for its community's members (agendas: the
  agenda, the live page).
- Sections of what a meeting's invitation says, in its emails and its calendar entry
  (agendas: the published agenda).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet
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


@dataclass(frozen=True)
class InvitationSection:
    """A section of what a meeting's invitation says: in its email (text and HTML) and in
    its calendar entry's DESCRIPTION, so updates, feeds and downloads carry it too.

    `text(meeting=..., reader=...)` returns plain text (lines separated by newlines) in
    the reader's language and zone — it is called inside `translation.override` and
    `timezone.override` for them — or "" for nothing. A cancellation carries no section.

    `prefetch(meetings)`, if given, returns the queryset of meetings with what `text`
    reads joined or prefetched: a feed renders many meetings, and must cost no query per
    meeting."""

    key: str
    text: Callable[..., str]
    prefetch: Callable[[QuerySet], QuerySet] | None = None


invitation_sections: list[InvitationSection] = []


def invitation_section_register(section: InvitationSection) -> None:
    if all(existing.key != section.key for existing in invitation_sections):
        invitation_sections.append(section)
