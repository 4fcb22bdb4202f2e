"""meetings.selectors: lists, the rota's turns and fairness, answers, the handover; each
runs as many queries for three meetings as for one."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communities.enums import MembershipStatus
from communities.models import Membership
from meetings import hooks, selectors, services
from meetings.enums import AttendanceStatus, MeetingStatus, Response
from meetings.models import Meeting
from tests.factories import UserFactory

from .helpers import NOW, community_with, meetings_of, member_add, series_make

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def _reload(meeting):
    return Meeting.objects.get(pk=meeting.pk)


def _queries(read) -> int:
    with CaptureQueriesContext(connection) as ctx:
        read()
    return len(ctx.captured_queries)


def _community_with_history(count: int):
    """`count` meetings held (chairs confirmed, attendance, a no) and `count` upcoming,
    one of them confirmed and answered no by a member. Returns (community, now)."""
    community, manager, users = community_with(4)
    series_make(community, manager, rrule=f"FREQ=MONTHLY;BYDAY=2TU;COUNT={2 * count}")
    now = NOW
    for meeting in meetings_of(community)[:count]:
        services.meetings_maintain(now=now)
        services.answer_set(
            user=users[3], meeting=meeting, response=Response.NO, now=meeting.starts_at - MINUTE
        )
        for user in users[:2]:
            services.attendance_set(
                actor=manager,
                meeting=meeting,
                user=user,
                status=AttendanceStatus.PRESENT,
                now=meeting.ends_at,
            )
        now = meeting.ends_at + MINUTE
    services.meetings_maintain(now=now)
    for meeting in meetings_of(community)[count:]:
        services.answer_set(user=users[2], meeting=meeting, response=Response.NO, now=now)
    return community, now


def _same_queries_for_one_and_three(read):
    counts = []
    for count in (1, 3):
        community, now = _community_with_history(count)
        assert Meeting.objects.filter(community=community, starts_at__gt=now).count() == count
        counts.append(_queries(lambda community=community, now=now: read(community, now)))
    assert counts[0] == counts[1], counts
    return counts[0]


# Query counts --------------------------------------------------------------------------


def test_rota_turns_queries_do_not_grow_with_meetings():
    def read(community, now):
        for turn in selectors.rota_turns(community=community, now=now):
            str(turn.chair and turn.chair.display_name)
            str(turn.backup and turn.backup.display_name)
            turn.meeting.get_absolute_url()

    assert _same_queries_for_one_and_three(read) <= 6


def test_rota_fairness_queries_do_not_grow_with_meetings():
    def read(community, now):
        for row in selectors.rota_fairness(community=community, now=now):
            str(row.user.display_name)
            if row.next_turn is not None:
                row.next_turn.get_absolute_url()

    assert _same_queries_for_one_and_three(read) <= 10


def test_meetings_upcoming_queries_do_not_grow_with_meetings():
    def read(community, now):
        for meeting in selectors.meetings_upcoming(community=community, now=now):
            str(meeting.chair and meeting.chair.display_name)
            str(meeting.backup and meeting.backup.display_name)
            meeting.get_absolute_url()

    assert _same_queries_for_one_and_three(read) == 1


def test_meetings_past_queries_do_not_grow_with_meetings():
    def read(community, now):
        for meeting in selectors.meetings_past(community=community, now=now):
            str(meeting.chair and meeting.chair.display_name)
            meeting.get_absolute_url()

    assert _same_queries_for_one_and_three(read) == 1


def test_chair_log_queries_do_not_grow_with_meetings():
    def read(community, now):
        for change in selectors.chair_log(community=community):
            str(change.chair and change.chair.display_name)
            str(change.previous and change.previous.display_name)
            change.meeting.get_absolute_url()

    assert _same_queries_for_one_and_three(read) == 1


# Lists ---------------------------------------------------------------------------------


def test_upcoming_and_past_split_at_the_end_of_a_meeting():
    community, manager, _users = community_with(1)
    meetings = meetings_of(series_make(community, manager))
    services.meeting_cancel(actor=manager, meeting=meetings[2], now=NOW)
    during = meetings[1].starts_at + MINUTE

    upcoming = list(selectors.meetings_upcoming(community=community, now=during))
    past = list(selectors.meetings_past(community=community, now=during))

    assert upcoming == meetings[1:]  # the one under way, and the cancelled one too
    assert upcoming[1].status == MeetingStatus.CANCELLED
    assert past == [meetings[0]]
    assert list(selectors.meetings_past(community=community, now=meetings[1].ends_at)) == [
        meetings[1],
        meetings[0],
    ]


def test_lists_hold_only_the_communitys_meetings():
    community, manager, _users = community_with(1)
    other, other_manager, _ = community_with(1)
    series_make(community, manager)
    series_make(other, other_manager)

    assert {m.community_id for m in selectors.meetings_upcoming(community=community, now=NOW)} == {
        community.pk
    }


def test_meeting_get_only_in_its_community():
    community, manager, _users = community_with(1)
    other, _other_manager, _ = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]

    assert selectors.meeting_get(community=community, meeting_id=meeting.pk) == meeting
    with pytest.raises(selectors.MeetingNotFound):
        selectors.meeting_get(community=other, meeting_id=meeting.pk)
    with pytest.raises(selectors.MeetingNotFound):
        selectors.meeting_get(community=community, meeting_id=meeting.pk + 1000)


def test_meeting_previous_skips_cancelled_meetings():
    community, manager, _users = community_with(1)
    meetings = meetings_of(series_make(community, manager))
    services.meeting_cancel(actor=manager, meeting=meetings[1], now=NOW)

    assert selectors.meeting_previous(meeting=meetings[2]) == meetings[0]
    assert selectors.meeting_previous(meeting=meetings[0]) is None


# The rota ------------------------------------------------------------------------------


def test_rota_candidates_count_only_meetings_held_with_a_chair():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    services.meetings_maintain(now=NOW)  # A confirmed for 13 January
    services.chair_override(actor=manager, meeting=meetings[1], user=users[0], now=NOW)
    after_second = meetings[1].ends_at

    candidates = {
        c.user_id: c for c in selectors.rota_candidates(community=community, now=after_second)
    }

    assert candidates[users[0].pk].times == 2
    assert candidates[users[0].pk].last_chaired == meetings[1].starts_at
    assert (candidates[users[1].pk].times, candidates[users[1].pk].last_chaired) == (0, None)
    assert candidates[manager.pk].willing is False
    assert selectors.rota_candidates(community=community, now=NOW)[1].times == 0


def test_rota_candidates_leave_out_former_members_and_inactive_accounts():
    community, manager, users = community_with(3)
    Membership.objects.filter(user=users[0]).update(status=MembershipStatus.LEFT)
    type(users[1]).objects.filter(pk=users[1].pk).update(is_active=False)

    ids = {c.user_id for c in selectors.rota_candidates(community=community, now=NOW)}

    assert ids == {manager.pk, users[2].pk}


def test_rota_turns_mark_confirmed_and_projected_turns():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    services.meetings_maintain(now=NOW)
    services.chair_override(actor=manager, meeting=meetings[2], user=users[0], now=NOW)

    turns = selectors.rota_turns(community=community, now=NOW)

    assert [t.meeting for t in turns] == meetings
    first, second, third, fourth = turns[:4]
    assert (first.chair, first.backup, first.confirmed, first.fixed) == (
        users[0],
        users[1],
        True,
        True,
    )
    assert first.reason == _reload(meetings[0]).chair_reason
    assert (second.chair, second.backup, second.confirmed, second.fixed) == (
        users[1],
        users[2],
        False,
        False,
    )
    assert second.reason.startswith("never chaired; joined ")
    assert (third.chair, third.confirmed, third.fixed, third.reason) == (
        users[0],
        False,
        True,
        "chosen by Manager",
    )
    assert fourth.chair == users[2]
    assert fourth.reason.startswith("never chaired; joined ")
    assert turns[4].chair == users[1]
    assert turns[4].reason.startswith("in turn after chairing on ")


def test_rota_turns_leave_out_cancelled_and_started_meetings():
    community, manager, _users = community_with(2)
    meetings = meetings_of(series_make(community, manager))
    services.meeting_cancel(actor=manager, meeting=meetings[2], now=NOW)

    turns = selectors.rota_turns(community=community, now=meetings[0].starts_at)

    assert [t.meeting for t in turns] == [meetings[1], *meetings[3:]]


def test_rota_turn_of_one_meeting():
    community, manager, users = community_with(2)
    meetings = meetings_of(series_make(community, manager))

    assert selectors.rota_turn(meeting=meetings[1], now=NOW).chair == users[1]
    assert selectors.rota_turn(meeting=meetings[0], now=meetings[0].starts_at) is None


def test_rota_fairness_shows_each_members_share():
    community, manager, users = community_with(3)
    late = member_add(community, joined=datetime(2026, 2, 20, tzinfo=UTC), name="Late")
    meetings = meetings_of(series_make(community, manager))
    now = NOW
    for meeting in meetings[:3]:  # A, B, C chair January to March
        services.meetings_maintain(now=now)
        for user in (users[0], late):
            services.attendance_set(
                actor=manager,
                meeting=meeting,
                user=user,
                status=AttendanceStatus.PRESENT,
                now=meeting.ends_at,
            )
        services.attendance_set(
            actor=manager,
            meeting=meeting,
            user=users[1],
            status=AttendanceStatus.REGRETS,
            now=meeting.ends_at,
        )
        now = meeting.ends_at + MINUTE
    services.meetings_maintain(now=now)  # the late joiner chairs April

    rows = selectors.rota_fairness(community=community, now=now)

    view = [
        (r.user, r.willing, r.times, r.last_chaired, r.next_turn, r.attended, r.held_since_joined)
        for r in rows
    ]
    assert view == [
        (late, True, 0, None, meetings[3], 1, 1),  # joined 20 Feb: only March held since
        (users[0], True, 1, meetings[0].starts_at, meetings[4], 3, 3),
        (users[1], True, 1, meetings[1].starts_at, meetings[5], 0, 3),
        (users[2], True, 1, meetings[2].starts_at, meetings[6], 0, 3),
        (manager, False, 0, None, None, 0, 3),
    ]


def test_chair_log_and_open_swaps():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    services.chair_confirm(actor=manager, meeting=meetings[0], now=NOW)
    services.chair_override(
        actor=manager, meeting=meetings[0], user=users[2], now=NOW + timedelta(hours=1)
    )
    turns = selectors.rota_turns(community=community, now=NOW)
    assert [t.chair for t in turns[1:3]] == [users[0], users[1]]
    swap = services.swap_propose(
        user=users[0], meeting=meetings[1], partner_meeting=meetings[2], now=NOW
    )

    log = list(selectors.chair_log(community=community))

    assert [(x.kind, x.chair) for x in log] == [("override", users[2]), ("rota", users[0])]
    assert list(selectors.swaps_open(community=community, user=users[0])) == [swap]
    assert list(selectors.swaps_open(community=community, user=users[1])) == [swap]
    assert list(selectors.swaps_open(community=community, user=users[2])) == []
    services.swap_withdraw(user=users[0], swap=swap, now=NOW)
    assert list(selectors.swaps_open(community=community, user=users[0])) == []


# Answers and attendance ----------------------------------------------------------------


def test_answer_summary_counts_and_names_who_said_yes():
    community, manager, users = community_with(3)
    meeting = meetings_of(series_make(community, manager))[0]
    for user, response in [
        (users[2], Response.YES),
        (users[0], Response.YES),
        (users[1], Response.NO),
        (manager, Response.MAYBE),
    ]:
        services.answer_set(user=user, meeting=meeting, response=response, note="n", now=NOW)

    summary = selectors.answer_summary(meeting=meeting)

    assert summary.counts == {"yes": 2, "no": 1, "maybe": 1}
    assert summary.yes == [users[0], users[2]]
    assert [(a.user, a.note) for a in summary.answers] == [
        (manager, "n"),
        (users[0], "n"),
        (users[1], "n"),
        (users[2], "n"),
    ]
    assert selectors.answer_of(meeting=meeting, user=users[1]).response == Response.NO
    assert selectors.answer_of(meeting=meeting, user=UserFactory()) is None


def test_attendance_for_a_meeting():
    community, manager, users = community_with(2)
    meeting = meetings_of(series_make(community, manager))[0]
    services.attendance_set(
        actor=manager,
        meeting=meeting,
        user=users[0],
        status=AttendanceStatus.PRESENT,
        now=meeting.ends_at,
    )

    assert selectors.attendance_for(meeting=meeting) == {users[0].pk: AttendanceStatus.PRESENT}


# The handover --------------------------------------------------------------------------


@pytest.fixture
def handover_section():
    seen = []

    def context(*, meeting, user):
        seen.append((meeting.pk, user.pk))
        return {"topics": ["one"]}

    section = hooks.HandoverSection(
        key="test-topics", title="Topics", template="x.html", context=context
    )
    hooks.handover_section_register(section)
    hooks.handover_section_register(section)  # registering twice keeps one
    yield section, seen
    hooks.handover_sections.remove(section)


def test_handover_context(handover_section):
    section, seen = handover_section
    community, manager, users = community_with(2)
    meetings = meetings_of(series_make(community, manager))
    newcomer = member_add(community, joined=meetings[0].starts_at + timedelta(days=3))
    member_add(community, joined=meetings[0].starts_at - timedelta(days=3))

    context = selectors.handover_context(meeting=meetings[1], user=users[0])

    assert context["previous"] == meetings[0]
    assert [m.user for m in context["new_members"]] == [newcomer]
    assert [s for s in context["sections"] if s["section"] == section] == [
        {"section": section, "topics": ["one"]}
    ]
    assert [s["section"].key for s in context["sections"]].count("test-topics") == 1
    assert seen == [(meetings[1].pk, users[0].pk)]


def test_meeting_link_only_for_members_managers_and_staff():
    community, manager, users = community_with(1)
    left = member_add(community, joined=NOW - timedelta(days=5))
    Membership.objects.filter(user=left).update(status=MembershipStatus.LEFT)

    def can(user):
        membership = Membership.objects.filter(community=community, user=user).first()
        return selectors.meeting_can_see_link(user=user, membership=membership)

    assert can(users[0]) is True
    assert can(manager) is True
    assert can(UserFactory(is_staff=True)) is True
    assert can(UserFactory()) is False
    assert can(left) is False


def test_rota_turns_of_a_community_without_meetings():
    community, _manager, _users = community_with(2)

    assert selectors.rota_turns(community=community, now=NOW) == []
    assert [r.next_turn for r in selectors.rota_fairness(community=community, now=NOW)] == [
        None,
        None,
        None,
    ]
