"""minutes.selectors: a meeting's facts for its draft, the action items of a member and of
a community, and the handover page's section."""

from datetime import date

import pytest
from django.template.loader import render_to_string

from meetings import hooks as meeting_hooks
from meetings.models import Answer
from meetings.selectors import handover_context
from minutes import selectors, services
from minutes.enums import ActionStatus
from tests.minutes.helpers import at, meeting_end, run_until_end, world

pytestmark = pytest.mark.django_db


def test_facts_of_an_ended_run():
    w = world()
    run_until_end(w)
    meeting_end(w)

    facts = selectors.minutes_facts(meeting=w.meeting)

    assert (facts.language, facts.zone, facts.chair) == ("en", "America/Vancouver", "Member A")
    assert (facts.started_at, facts.ended_at) == (at(w, 2), at(w, 55))
    assert facts.present == ("Member A", "Member B", "Newcomer")
    assert (facts.regrets, facts.absent) == (("Member C",), ("Manager",))
    assert [(i.kind, i.started_at, i.ended_at) for i in facts.items] == [
        ("introductions", at(w, 2), at(w, 7)),
        ("roundtable", at(w, 7), at(w, 11)),
        ("focus", at(w, 11), at(w, 26)),
        ("discussion", at(w, 26), at(w, 46)),
        ("future", at(w, 46), at(w, 55)),
    ]
    assert [i.notes for i in facts.items][2] == ("Rotate night shifts *forward*.",)
    assert [line.name for line in facts.roundtable] == ["Member A", "Newcomer"]
    assert facts.notes == ("Recording saved.",)
    assert facts.next_meeting.starts_at == w.meetings[2].starts_at
    assert facts.next_meeting.chair == "Member B"


def test_a_member_who_answered_no_but_came_is_present_not_regrets():
    w = world()
    Answer.objects.filter(meeting=w.meeting).update(user=w.newcomer)  # the newcomer said no
    run_until_end(w)

    facts = selectors.minutes_facts(meeting=w.meeting)

    assert "Newcomer" in facts.present
    assert facts.regrets == ()
    assert facts.absent == ("Manager", "Member C")


def test_dropped_action_items_are_left_out_of_the_minutes():
    w = world()
    kept = services.action_item_create(
        actor=w.chair, meeting=w.meeting, owner=w.backup, text="Kept"
    )
    dropped = services.action_item_create(
        actor=w.chair, meeting=w.meeting, owner=w.backup, text="Dropped"
    )
    services.action_item_status_set(actor=w.manager, action_item=dropped, status="dropped")

    facts = selectors.minutes_facts(meeting=w.meeting)

    assert [a.text for a in facts.actions] == [kept.text]


def test_facts_of_a_meeting_without_run_or_agenda():
    w = world()
    meeting = w.meetings[3]

    facts = selectors.minutes_facts(meeting=meeting)

    assert (facts.started_at, facts.items, facts.present, facts.roundtable) == (None, (), (), ())
    assert facts.absent == ("Manager", "Member A", "Member B", "Member C", "Newcomer")


def _actions(w, *due_dates, owner=None):
    return [
        services.action_item_create(
            actor=w.manager,
            meeting=w.meeting,
            owner=owner or w.backup,
            text=f"Action {number}",
            due_date=due,
        )
        for number, due in enumerate(due_dates)
    ]


def test_a_member_action_items_soonest_due_first_undated_last():
    w = world()
    later, undated, sooner = _actions(w, date(2026, 4, 1), None, date(2026, 3, 1))
    _actions(w, date(2026, 2, 20), owner=w.chair)  # someone else's
    services.action_item_status_set(actor=w.backup, action_item=later, status="done")

    assert list(selectors.action_items_of(user=w.backup)) == [sooner, later, undated]
    assert list(selectors.action_items_of(user=w.backup, status=ActionStatus.OPEN)) == [
        sooner,
        undated,
    ]


def test_a_community_open_action_items_only_its_own_and_open():
    w, other = world(), world()
    first, done = _actions(w, date(2026, 3, 1), date(2026, 3, 2))
    services.action_item_status_set(actor=w.backup, action_item=done, status="done")
    _actions(other, date(2026, 3, 1))

    assert list(selectors.action_items_open(community=w.community)) == [first]


def test_open_action_items_cost_the_same_queries_for_one_or_three(django_assert_num_queries):
    w = world()
    _actions(w, date(2026, 3, 1))
    with django_assert_num_queries(1):
        one = [
            (a.owner.display_name, a.meeting.community.name)
            for a in selectors.action_items_open(community=w.community)
        ]
    _actions(w, date(2026, 3, 2), None)
    with django_assert_num_queries(1):
        three = [
            (a.owner.display_name, a.meeting.community.name)
            for a in selectors.action_items_open(community=w.community)
        ]

    assert (len(one), len(three)) == (1, 3)


def test_the_handover_page_lists_the_open_action_items():
    w = world()
    _actions(w, date(2026, 3, 1))
    [section] = [s for s in meeting_hooks.handover_sections if s.key == "action_items"]

    context = handover_context(meeting=w.meetings[2], user=w.backup)

    [entry] = [e for e in context["sections"] if e["section"] == section]
    assert [a.text for a in entry["action_items"]] == ["Action 0"]
    html = render_to_string(section.template, entry)
    assert "<strong>Action 0</strong>" in html
    assert "Member B; due March 1, 2026; from the meeting of Feb. 10, 2026" in html


def test_the_handover_section_says_when_nothing_is_open():
    w = world()
    [section] = [s for s in meeting_hooks.handover_sections if s.key == "action_items"]

    html = render_to_string(
        section.template, selectors.handover_action_items(meeting=w.meeting, user=w.chair)
    )

    assert "No open action items." in html
    assert [s.key for s in meeting_hooks.handover_sections].count("action_items") == 1
