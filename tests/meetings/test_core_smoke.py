"""A first pass over the meetings services: a series, the rota over a year, swaps, answers."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from communities.enums import Role
from meetings import selectors, services
from meetings.enums import ChairSource, MeetingStatus, Response
from meetings.models import ChairChange, Meeting
from tests.factories import CommunityFactory, MembershipFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def _community(members=4):
    community = CommunityFactory(
        timezone="America/Vancouver", video_url="https://video.example.org/c"
    )
    manager = MembershipFactory(
        community=community, role=Role.MANAGER, joined_at=NOW - timedelta(days=400)
    )
    others = [
        MembershipFactory(community=community, joined_at=NOW - timedelta(days=300 - i))
        for i in range(members - 1)
    ]
    return community, manager.user, [manager.user] + [m.user for m in others]


def test_series_rota_and_maintain_are_fair_and_idempotent():
    community, manager, users = _community(4)
    series, result = services.series_create(
        actor=manager,
        community=community,
        title="Monthly call",
        rrule="FREQ=MONTHLY;BYDAY=2TU",
        first_date=date(2026, 1, 1),
        start_time=time(12, 0),
        now=NOW,
    )
    assert result.created == 12
    meetings = list(Meeting.objects.filter(series=series))
    assert all(m.room is not None for m in meetings)
    local = [
        m.starts_at.astimezone(series.timezone and __import__("zoneinfo").ZoneInfo(series.timezone))
        for m in meetings
    ]
    assert {(d.hour, d.minute) for d in local} == {(12, 0)}
    turns = selectors.rota_turns(community=community, now=NOW)
    chairs = [t.chair.pk for t in turns]
    assert sorted(chairs[:4]) == sorted(u.pk for u in users)
    assert chairs[4:8] == chairs[:4]
    # Maintenance twice changes nothing more, and confirms the first chair (< 28 days).
    first = services.meetings_maintain(now=NOW)
    second = services.meetings_maintain(now=NOW)
    assert (first.created, first.updated, first.cancelled) == (0, 0, 0)
    assert first.chairs_confirmed == 1 and second.chairs_confirmed == 0
    m1 = Meeting.objects.get(pk=turns[0].meeting.pk)
    assert m1.chair_id == chairs[0] and m1.chair_confirmed_at and m1.backup_id == chairs[1]
    assert m1.sequence == 1
    assert ChairChange.objects.filter(meeting=m1, kind=ChairSource.ROTA).count() == 1
    # The confirmed chair answers no: replaced by the rule, logged.
    services.answer_set(user=m1.chair, meeting=m1, response=Response.NO, now=NOW)
    m1.refresh_from_db()
    assert m1.chair_id == chairs[1] and m1.chair_confirmed_at
    assert ChairChange.objects.filter(meeting=m1, kind=ChairSource.ANSWERED_NO).count() == 1


def test_swap_and_series_edit_keeps_own_changes():
    community, manager, _users = _community(3)
    series, _ = services.series_create(
        actor=manager,
        community=community,
        title="Call",
        rrule="FREQ=MONTHLY;BYMONTHDAY=15",
        first_date=date(2026, 1, 1),
        start_time=time(9, 30),
        now=NOW,
    )
    turns = selectors.rota_turns(community=community, now=NOW)
    a, b = turns[0], turns[1]
    swap = services.swap_propose(
        user=a.chair, meeting=a.meeting, partner_meeting=b.meeting, now=NOW
    )
    services.swap_answer(user=b.chair, swap=swap, accept=True, now=NOW)
    after = selectors.rota_turns(community=community, now=NOW)
    assert after[0].chair == b.chair and after[1].chair == a.chair
    moved = after[2].meeting
    services.meeting_update(
        actor=manager, meeting=moved, title="Special", duration_minutes=90, now=NOW
    )
    services.series_update(
        actor=manager, series=series, title="Renamed", start_time=time(10, 0), now=NOW
    )
    moved.refresh_from_db()
    assert moved.title == "Special" and moved.duration_minutes == 90
    others = Meeting.objects.filter(series=series).exclude(pk=moved.pk)
    assert set(others.values_list("title", flat=True)) == {"Renamed"}
    services.series_update(
        actor=manager, series=series, rrule="FREQ=MONTHLY;BYMONTHDAY=20", now=NOW
    )
    assert Meeting.objects.filter(series=series, status=MeetingStatus.CANCELLED).count() == 12
    assert Meeting.objects.filter(series=series, status=MeetingStatus.SCHEDULED).count() == 12


def test_bad_inputs_change_nothing():
    community, manager, _ = _community(2)
    for fields, code in [
        ({"duration_minutes": 0}, "bad_length"),
        ({"duration_minutes": 481}, "bad_length"),
        ({"timezone": "Mars/Olympus"}, "unknown_zone"),
        ({"start_time": time(2, 30), "rrule": "FREQ=WEEKLY;BYDAY=SU"}, "time_missing"),
        ({"rrule": "FREQ=DAILY;BYHOUR=9,10"}, "more_than_daily"),
    ]:
        values = {
            "title": "X",
            "rrule": "FREQ=MONTHLY;BYDAY=2TU",
            "first_date": date(2026, 1, 1),
            "start_time": time(12),
            **fields,
        }
        with pytest.raises(services.MeetingError) as caught:
            services.series_create(actor=manager, community=community, now=NOW, **values)
        assert caught.value.code == code
    assert not Meeting.objects.exists()
