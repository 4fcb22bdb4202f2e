"""Sections the apps above add to a chair's handover page (agendas: proposed topics;
minutes: open action items). Each registers in its AppConfig.ready(); meetings never
imports them — the same pattern as `communities/hooks.py`."""

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
