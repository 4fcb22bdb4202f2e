"""The agendas' reads: the planned timeline (each item's start and end, the roundtable's
turns, the overrun), the new members to introduce, and the handover page's sections."""

from datetime import timedelta

import pytest

from agendas import selectors, services
from agendas.enums import ItemKind
from agendas.models import Agenda
from meetings import hooks
from meetings import selectors as meeting_selectors
from meetings import services as meeting_services
from tests.agendas.helpers import world
from tests.meetings.helpers import NOW, member_add, utc

pytestmark = pytest.mark.django_db


def _spans(timeline) -> list[tuple]:
    return [(row.item.kind, row.starts_at, row.ends_at, row.turns) for row in timeline.rows]


def test_timeline_plans_each_item_and_the_roundtable_turns_within_the_meeting():
    _community, _manager, _users, meetings = world(7)  # 8 members with the manager
    meeting = meetings[0]  # January 13th, noon in Vancouver: 20:00 UTC, 60 minutes
    agenda = services.agenda_ensure(meeting=meeting, now=NOW)

    timeline = selectors.agenda_timeline(agenda=agenda, now=NOW)

    start = utc(2026, 1, 13, 20)
    assert meeting.starts_at == start
    assert _spans(timeline) == [
        ("introductions", start, start + timedelta(minutes=5), 0),
        ("roundtable", start + timedelta(minutes=5), start + timedelta(minutes=15), 8),
        ("focus", start + timedelta(minutes=15), start + timedelta(minutes=30), 0),
        ("discussion", start + timedelta(minutes=30), start + timedelta(minutes=50), 0),
        ("future", start + timedelta(minutes=50), start + timedelta(minutes=55), 0),
    ]
    assert (timeline.members, timeline.turn_seconds) == (8, 60)
    assert (timeline.total_seconds, timeline.total_minutes) == (55 * 60, 55)
    assert (timeline.overruns, timeline.overrun_seconds, timeline.spare_minutes) == (False, 0, 5)
    assert timeline.rows[1].minutes == 10


def test_timeline_longer_turns_push_the_meeting_over_and_say_by_how_much():
    community, manager, _users, meetings = world(7)
    services.template_settings_set(
        actor=manager, template=community.agenda_template, turn_seconds=120
    )
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)

    timeline = selectors.agenda_timeline(agenda=agenda, now=NOW)

    # 47 minutes of items and 8 turns of 2 minutes: 63 of 60.
    assert timeline.total_minutes == 63
    assert (timeline.overruns, timeline.overrun_seconds, timeline.overrun_minutes) == (
        True,
        180,
        3,
    )
    assert timeline.spare_minutes == 0


def test_timeline_overrun_in_seconds_rounds_up_to_a_minute():
    community, manager, _users, meetings = world(3)  # 4 members
    services.template_settings_set(
        actor=manager, template=community.agenda_template, turn_seconds=15
    )
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    services.agenda_item_add(actor=manager, agenda=agenda, title="Extra", minutes=12, now=NOW)

    timeline = selectors.agenda_timeline(agenda=agenda, now=NOW)

    # 47 + 12 minutes and four 15-second turns: the full hour; one more member, 15 s over.
    assert (timeline.total_seconds, timeline.overrun_seconds) == (60 * 60, 0)
    member_add(community, joined=NOW - timedelta(days=1))
    timeline = selectors.agenda_timeline(agenda=agenda, now=NOW)
    assert (timeline.overrun_seconds, timeline.overrun_minutes) == (15, 1)


def test_timeline_counts_only_members_active_by_now():
    community, _manager, users, meetings = world(3)
    community.memberships.filter(user=users[0]).update(status="left")
    member_add(community, joined=NOW + timedelta(days=1))  # joins after "now"
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)

    assert selectors.agenda_timeline(agenda=agenda, now=NOW).members == 3


def test_timeline_follows_the_meeting_length():
    _community, manager, _users, meetings = world(3)
    meeting_services.meeting_update(
        actor=manager, meeting=meetings[0], duration_minutes=45, now=NOW
    )
    meetings[0].refresh_from_db()
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)

    timeline = selectors.agenda_timeline(agenda=agenda, now=NOW)

    assert (timeline.total_minutes, timeline.overrun_minutes) == (51, 6)


def test_new_members_are_those_who_joined_since_the_previous_meeting():
    community, _manager, _users, meetings = world(2)
    community.created_at = NOW - timedelta(days=30)
    community.save(update_fields=["created_at"])
    first, second = meetings[0], meetings[1]
    early = member_add(community, joined=first.starts_at - timedelta(days=3), name="Early")
    late = member_add(community, joined=first.starts_at + timedelta(days=3), name="Late")

    at_second = [m.user for m in selectors.agenda_new_members(meeting=second)]
    at_first = [m.user for m in selectors.agenda_new_members(meeting=first)]

    assert at_second == [late]
    assert at_first == [early, late]  # since the community began, as the handover says


def test_handover_sections_are_registered_once():
    keys = [section.key for section in hooks.handover_sections]

    assert keys.count("agenda_topics") == 1
    assert keys.count("agenda_timeline") == 1


def test_handover_context_has_the_topics_and_the_template_timeline_before_the_agenda():
    community, manager, users, meetings = world(3)
    chosen = services.topic_propose(user=users[0], community=community, title="Scribes", now=NOW)
    services.topic_choose(actor=manager, topic=chosen, meeting=meetings[0], now=NOW)
    proposed = services.topic_propose(user=users[1], community=community, title="Sleep", now=NOW)
    dropped = services.topic_propose(user=users[1], community=community, title="Gone", now=NOW)
    services.topic_drop(actor=manager, topic=dropped)

    context = meeting_selectors.handover_context(meeting=meetings[1], user=manager)

    sections = {entry["section"].key: entry for entry in context["sections"]}
    assert sections["agenda_topics"]["agenda_topics"] == [chosen, proposed]
    timeline = sections["agenda_timeline"]["agenda_timeline"]
    assert sections["agenda_timeline"]["agenda"] is None
    assert [row.item.kind for row in timeline.rows] == [
        ItemKind.INTRODUCTIONS,
        ItemKind.ROUNDTABLE,
        ItemKind.FOCUS,
        ItemKind.DISCUSSION,
        ItemKind.FUTURE,
    ]
    assert timeline.starts_at == meetings[1].starts_at
    assert not Agenda.objects.filter(meeting=meetings[1]).exists()  # reading makes none


def test_handover_context_has_the_agenda_timeline_once_made():
    _community, manager, _users, meetings = world(3)
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    services.agenda_item_add(actor=manager, agenda=agenda, title="Clinic tour", minutes=9, now=NOW)

    context = selectors.handover_timeline(meeting=meetings[0], user=manager)

    assert context["agenda"] == agenda
    assert context["agenda_timeline"].rows[-1].item.title == "Clinic tour"
