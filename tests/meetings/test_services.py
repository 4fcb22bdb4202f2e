"""meetings.services: series and their meetings, the sequence, refusals that change nothing,
the chair's confirmation, the rota over time, answers no, opting out, swaps, overrides,
answers and attendance. Time passes through the services' `now=` parameters."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from communities.enums import JoinPolicy, MembershipStatus
from communities.models import Membership
from communities.selectors import CommunityNotFound
from communities.services import CommunityActionError
from meetings import selectors, services
from meetings.enums import AttendanceStatus, ChairSource, MeetingStatus, Response, SwapStatus
from meetings.models import Answer, Attendance, ChairChange, Meeting, Series
from meetings.services import MeetingError, SyncResult
from rooms.enums import RoomKind
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

from .helpers import (
    NOW,
    SECOND_TUESDAY,
    SECOND_TUESDAYS_2026,
    community_with,
    db_state,
    local,
    meetings_of,
    member_add,
    series_make,
    utc,
)

pytestmark = pytest.mark.django_db

VANCOUVER = "America/Vancouver"
MINUTE = timedelta(minutes=1)


def _reload(meeting: Meeting) -> Meeting:
    return Meeting.objects.select_related("community").get(pk=meeting.pk)


def _series_values(**fields):
    return {
        "title": "Monthly call",
        "rrule": SECOND_TUESDAY,
        "first_date": date(2026, 1, 1),
        "start_time": time(12),
        **fields,
    }


def _refused(call, *, code, field=None, forbidden=False, error=MeetingError):
    """Run `call`, which must be refused with `code` and change nothing; return the error."""
    before = db_state()
    with pytest.raises(error) as caught:
        call()
    assert caught.value.code == code
    assert getattr(caught.value, "field", None) == field
    assert caught.value.forbidden is forbidden
    assert str(caught.value.message)
    assert db_state() == before
    return caught.value


def _maintain_until(community, moment):
    """Periodic work at `moment`, then the community's next meeting."""
    services.meetings_maintain(now=moment)
    return selectors.meetings_upcoming(community=community, now=moment).first()


# Series --------------------------------------------------------------------------------


def test_series_create_makes_a_years_meetings_with_side_chats_and_the_communitys_defaults():
    community, manager, _ = community_with(2)

    series, result = services.series_create(
        actor=manager, community=community, now=NOW, **_series_values(title="  Monthly   call ")
    )

    assert result == SyncResult(created=12)
    assert (series.title, series.timezone, series.duration_minutes, series.video_url) == (
        "Monthly call",
        VANCOUVER,
        60,
        "https://video.example.org/cop",
    )
    assert series.created_by == manager
    meetings = meetings_of(series)
    assert [m.occurrence_date for m in meetings] == SECOND_TUESDAYS_2026
    assert {local(m.starts_at, VANCOUVER).time() for m in meetings} == {time(12)}
    assert [m.starts_at for m in meetings[:3]] == [
        utc(2026, 1, 13, 20),
        utc(2026, 2, 10, 20),
        utc(2026, 3, 10, 19),
    ]
    assert meetings[10].starts_at == utc(2026, 11, 10, 20)
    assert {m.ends_at - m.starts_at for m in meetings} == {timedelta(minutes=60)}
    assert {
        (m.title, m.timezone, m.video_url, m.status, m.sequence, m.chair_id, tuple(m.own_changes))
        for m in meetings
    } == {
        (
            "Monthly call",
            VANCOUVER,
            "https://video.example.org/cop",
            MeetingStatus.SCHEDULED,
            0,
            None,
            (),
        )
    }
    rooms = [m.room for m in meetings]
    assert len({r.pk for r in rooms}) == 12
    assert {(r.kind, r.community_id) for r in rooms} == {(RoomKind.MEETING, community.pk)}
    assert rooms[0].title == "Monthly call — 2026-01-13"


@pytest.mark.parametrize(
    ("zone", "utc_hours"),
    [
        ("America/Vancouver", [20, 20, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20]),
        ("America/Regina", [18] * 12),
    ],
)
def test_series_stores_each_start_in_utc_for_its_zone(zone, utc_hours):
    community, manager, _ = community_with(1)

    series = series_make(community, manager, timezone=zone)

    assert [m.starts_at.astimezone(UTC).hour for m in meetings_of(series)] == utc_hours
    assert {m.timezone for m in meetings_of(series)} == {zone}


def test_series_in_st_johns_starts_on_the_half_hour_in_utc():
    community, manager, _ = community_with(1, zone="America/St_Johns")

    series = series_make(community, manager)

    starts = [m.starts_at.astimezone(UTC) for m in meetings_of(series)]
    assert [(s.hour, s.minute) for s in starts] == [(15, 30)] * 2 + [(14, 30)] * 8 + [(15, 30)] * 2
    assert {local(m.starts_at, "America/St_Johns").time() for m in meetings_of(series)} == {
        time(12)
    }


def test_series_preview_gives_the_next_three_dates_and_saves_nothing():
    community, _manager, _ = community_with(1)
    before = db_state()

    dates = services.series_preview(community=community, now=NOW, **_series_values())

    assert [d.date() for d in dates] == [date(2026, 1, 13), date(2026, 2, 10), date(2026, 3, 10)]
    assert {(d.hour, d.minute, d.tzinfo.key) for d in dates} == {(12, 0, VANCOUVER)}
    assert db_state() == before


def test_series_preview_refuses_as_saving_would():
    community, _manager, _ = community_with(1)

    with pytest.raises(MeetingError) as caught:
        services.series_preview(community=community, now=NOW, **_series_values(rrule="FREQ=HOURLY"))

    assert (caught.value.code, caught.value.field) == ("more_than_daily", "rrule")


BAD_SERIES = [
    ({"duration_minutes": 0}, "bad_length", "duration_minutes"),
    ({"duration_minutes": 481}, "bad_length", "duration_minutes"),
    ({"duration_minutes": "60"}, "bad_length", "duration_minutes"),
    ({"timezone": "Mars/Olympus"}, "unknown_zone", "timezone"),
    ({"timezone": "America"}, "unknown_zone", "timezone"),
    (
        {"rrule": "FREQ=MONTHLY;BYMONTHDAY=8", "start_time": time(2, 30)},
        "time_missing",
        "start_time",
    ),
    (
        {"rrule": "FREQ=WEEKLY;BYDAY=SU", "start_time": time(1, 30)},
        "time_repeated",
        "start_time",
    ),
    ({"rrule": "FREQ=DAILY;BYHOUR=9,10"}, "more_than_daily", "rrule"),
    ({"rrule": "FREQ=HOURLY"}, "more_than_daily", "rrule"),
    ({"rrule": "FREQ=MONTHLY;BYDAY=2XX"}, "bad_rule", "rrule"),
    ({"rrule": "every second tuesday"}, "bad_rule", "rrule"),
    ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "no_dates", "rrule"),
    ({"rrule": "FREQ=MONTHLY;UNTIL=20251231T000000Z"}, "no_dates", "rrule"),
    ({"title": "   "}, "no_title", "title"),
    ({"title": "x" * 201}, "long_title", "title"),
    ({"video_url": "not a link"}, "invalid", "video_url"),
    ({"first_date": None}, "no_start", "first_date"),
]


@pytest.mark.parametrize(("fields", "code", "field"), BAD_SERIES)
def test_series_create_refuses_bad_input_and_changes_nothing(fields, code, field):
    community, manager, _ = community_with(1)
    series_make(community, manager, title="Existing")  # rows that must stay as they are

    _refused(
        lambda: services.series_create(
            actor=manager, community=community, now=NOW, **_series_values(**fields)
        ),
        code=code,
        field=field,
    )


# In an update, None leaves a field as it is.
@pytest.mark.parametrize(
    ("fields", "code", "field"), [bad for bad in BAD_SERIES if bad[0] != {"first_date": None}]
)
def test_series_update_refuses_bad_input_and_changes_nothing(fields, code, field):
    community, manager, _ = community_with(1)
    series = series_make(community, manager)

    _refused(
        lambda: services.series_update(actor=manager, series=series, now=NOW, **fields),
        code=code,
        field=field,
    )


def test_missing_local_time_message_says_which_and_when():
    community, manager, _ = community_with(1)

    error = _refused(
        lambda: services.series_create(
            actor=manager,
            community=community,
            now=NOW,
            **_series_values(rrule="FREQ=MONTHLY;BYMONTHDAY=8", start_time=time(2, 30)),
        ),
        code="time_missing",
        field="start_time",
    )

    assert str(error.message) == (
        "2:30 a.m. does not exist on March 8, 2026 in America/Vancouver: the clocks go "
        "forward that night. Choose another time."
    )


def test_repeated_local_time_message_says_which_and_when():
    community, manager, _ = community_with(1)

    error = _refused(
        lambda: services.series_create(
            actor=manager,
            community=community,
            now=NOW,
            **_series_values(rrule="FREQ=MONTHLY;BYMONTHDAY=1", start_time=time(1, 30)),
        ),
        code="time_repeated",
        field="start_time",
    )

    assert str(error.message) == (
        "1:30 a.m. happens twice on Nov. 1, 2026 in America/Vancouver: the clocks go back "
        "that night. Choose another time."
    )


def test_series_update_follows_except_what_was_changed_one_by_one():
    community, manager, _ = community_with(2)
    series = series_make(community, manager)
    m = meetings_of(series)
    services.meeting_update(actor=manager, meeting=m[1], title="Special", now=NOW)
    services.meeting_update(actor=manager, meeting=m[2], start_time=time(14), now=NOW)
    services.meeting_update(actor=manager, meeting=m[3], duration_minutes=90, now=NOW)
    services.meeting_update(
        actor=manager, meeting=m[4], video_url="https://other.example.org/x", now=NOW
    )
    services.meeting_cancel(actor=manager, meeting=m[5], now=NOW)
    sequences = {x.pk: x.sequence for x in meetings_of(series)}

    _series, result = services.series_update(
        actor=manager,
        series=series,
        title="Renamed",
        start_time=time(10),
        duration_minutes=45,
        video_url="https://new.example.org/v",
        now=NOW,
    )

    assert result == SyncResult(updated=12)
    after = {x.pk: x for x in meetings_of(series)}

    def view(x):
        return (
            x.title,
            local(x.starts_at, VANCOUVER).time(),
            x.duration_minutes,
            x.video_url,
            x.status,
        )

    new = ("Renamed", time(10), 45, "https://new.example.org/v", MeetingStatus.SCHEDULED)
    assert view(after[m[0].pk]) == new
    assert view(after[m[1].pk]) == ("Special", *new[1:])
    assert view(after[m[2].pk]) == ("Renamed", time(14), *new[2:])
    assert local(after[m[2].pk].starts_at, VANCOUVER).date() == date(2026, 3, 10)
    assert view(after[m[3].pk]) == ("Renamed", time(10), 90, *new[3:])
    assert view(after[m[4].pk]) == (*new[:3], "https://other.example.org/x", new[4])
    assert view(after[m[5].pk]) == (*new[:4], MeetingStatus.CANCELLED)
    assert all(view(after[x.pk]) == new for x in m[6:])
    assert {pk: x.sequence - sequences[pk] for pk, x in after.items()} == dict.fromkeys(after, 1)
    assert {after[x.pk].ends_at - after[x.pk].starts_at for x in m[6:]} == {timedelta(minutes=45)}


def test_series_update_that_changes_nothing_members_see_leaves_the_sequence():
    community, manager, _ = community_with(1)
    series = series_make(community, manager)

    _series, result = services.series_update(
        actor=manager, series=series, title="Monthly call", start_time=time(12), now=NOW
    )

    assert result == SyncResult()
    assert {m.sequence for m in meetings_of(series)} == {0}


def test_rule_change_cancels_never_deletes_and_creates_the_new_meetings():
    community, manager, users = community_with(2)
    series = series_make(community, manager, rrule="FREQ=MONTHLY;BYMONTHDAY=15")
    old = meetings_of(series)
    services.answer_set(user=users[0], meeting=old[3], response=Response.YES, now=NOW)

    later = NOW + timedelta(days=1)
    _series, result = services.series_update(
        actor=manager, series=series, rrule="FREQ=MONTHLY;BYMONTHDAY=20", now=later
    )

    assert result == SyncResult(created=12, cancelled=12)
    for before, after in zip(old, (_reload(m) for m in old), strict=True):
        assert after.status == MeetingStatus.CANCELLED
        assert after.cancelled_at == later
        assert after.sequence == before.sequence + 1
        assert after.starts_at == before.starts_at
        assert after.room_id == before.room_id
        assert after.own_changes == []  # the series cancelled it, not a manager
    assert Answer.objects.filter(meeting=old[3], user=users[0]).exists()
    new = Meeting.objects.filter(series=series, status=MeetingStatus.SCHEDULED).order_by(
        "starts_at"
    )
    assert [m.occurrence_date for m in new] == [date(2026, month, 20) for month in range(1, 13)]
    assert {m.sequence for m in new} == {0}
    assert all(m.room_id for m in new)
    assert Meeting.objects.filter(series=series).count() == 24


def test_rule_changed_back_gives_the_cancelled_meetings_again():
    community, manager, _ = community_with(1)
    series = series_make(community, manager, rrule="FREQ=MONTHLY;BYMONTHDAY=15")
    fifteenths = meetings_of(series)
    services.meeting_cancel(actor=manager, meeting=fifteenths[0], now=NOW)  # a manager's own
    services.series_update(
        actor=manager, series=series, rrule="FREQ=MONTHLY;BYMONTHDAY=20", now=NOW
    )

    _series, result = services.series_update(
        actor=manager, series=series, rrule="FREQ=MONTHLY;BYMONTHDAY=15", now=NOW
    )

    assert result == SyncResult(updated=11, cancelled=12)
    again = [_reload(m) for m in fifteenths]
    assert again[0].status == MeetingStatus.CANCELLED  # cancelled one by one: stays so
    assert again[0].sequence == 1
    assert [(m.status, m.cancelled_at, m.sequence) for m in again[1:]] == [
        (MeetingStatus.SCHEDULED, None, 2)
    ] * 11
    assert Meeting.objects.filter(series=series).count() == 24


def test_series_edit_never_touches_a_meeting_that_started_or_ended():
    community, manager, _ = community_with(1)
    series = series_make(community, manager)
    first, second = meetings_of(series)[:2]
    during_second = second.starts_at + timedelta(minutes=10)
    state = {m.pk: (m.title, m.starts_at, m.status, m.sequence) for m in (first, second)}

    services.series_update(
        actor=manager,
        series=series,
        title="Renamed",
        start_time=time(9),
        rrule="FREQ=MONTHLY;BYMONTHDAY=20",
        now=during_second,
    )

    for m in (first, second):
        fresh = _reload(m)
        assert (fresh.title, fresh.starts_at, fresh.status, fresh.sequence) == state[m.pk]
    scheduled = Meeting.objects.filter(
        series=series, status=MeetingStatus.SCHEDULED, starts_at__gt=during_second
    )
    assert {(m.title, m.occurrence_date.day) for m in scheduled} == {("Renamed", 20)}


def test_series_edit_moves_a_meeting_to_another_day_that_same_month():
    community, manager, _ = community_with(1)
    series = series_make(community, manager, rrule="FREQ=MONTHLY;BYMONTHDAY=15")
    moved = meetings_of(series)[1]
    services.meeting_update(actor=manager, meeting=moved, day=date(2026, 2, 16), now=NOW)

    services.series_update(actor=manager, series=series, start_time=time(13), now=NOW)

    fresh = _reload(moved)
    assert local(fresh.starts_at, VANCOUVER).replace(tzinfo=None) == datetime(2026, 2, 16, 12)
    assert fresh.occurrence_date == date(2026, 2, 15)
    assert fresh.own_changes == ["start"]


def test_a_meeting_moved_past_its_date_is_not_cancelled_once_that_date_has_passed():
    community, manager, _ = community_with(2)
    series = series_make(community, manager)
    first = meetings_of(series)[0]  # 13 January
    services.meeting_update(actor=manager, meeting=first, day=date(2026, 1, 20), now=NOW)
    after_the_13th = datetime(2026, 1, 15, tzinfo=UTC)

    result = services.meetings_maintain(now=after_the_13th)
    services.series_update(actor=manager, series=series, title="Renamed", now=after_the_13th)

    fresh = _reload(first)
    assert result.cancelled == 0
    assert (fresh.status, fresh.title) == (MeetingStatus.SCHEDULED, "Renamed")
    assert fresh.sequence == 3  # moved, its chair confirmed (within 28 days), renamed
    assert local(fresh.starts_at, VANCOUVER).replace(tzinfo=None) == datetime(2026, 1, 20, 12)


def test_a_meeting_moved_later_is_still_cancelled_by_a_rule_that_drops_its_date():
    community, manager, _ = community_with(2)
    series = series_make(community, manager, rrule="FREQ=MONTHLY;BYMONTHDAY=15")
    second = meetings_of(series)[1]  # 15 February
    services.meeting_update(actor=manager, meeting=second, day=date(2026, 2, 17), now=NOW)

    services.series_update(
        actor=manager, series=series, rrule="FREQ=MONTHLY;BYMONTHDAY=20", now=NOW
    )

    assert _reload(second).status == MeetingStatus.CANCELLED


def test_a_title_of_the_longest_length_still_gets_its_side_chats():
    community, manager, _ = community_with(1)
    title = "x" * 200

    series = series_make(community, manager, title=title)
    single = services.meeting_create(
        actor=manager,
        community=community,
        title=title,
        day=date(2026, 2, 1),
        start_time=time(12),
        now=NOW,
    )

    rooms = [m.room for m in meetings_of(series)] + [_reload(single).room]
    assert {m.title for m in meetings_of(series)} == {title}
    assert rooms[0].title == "x" * 187 + " — 2026-01-13"
    assert {len(r.title) for r in rooms} == {200}


def test_rule_change_keeps_own_changes_on_the_dates_it_still_gives():
    community, manager, _ = community_with(1)
    series = series_make(community, manager)
    m = meetings_of(series)
    services.meeting_update(actor=manager, meeting=m[1], title="February special", now=NOW)
    services.meeting_update(actor=manager, meeting=m[2], title="March special", now=NOW)
    services.meeting_update(actor=manager, meeting=m[4], duration_minutes=120, now=NOW)

    # Every other month now, at 13:00.
    _series, result = services.series_update(
        actor=manager,
        series=series,
        rrule="FREQ=MONTHLY;BYDAY=2TU;BYMONTH=1,3,5,7,9,11",
        start_time=time(13),
        now=NOW,
    )

    assert result == SyncResult(updated=6, cancelled=6)
    fresh = [_reload(x) for x in m]
    assert [x.status for x in fresh] == [MeetingStatus.SCHEDULED, MeetingStatus.CANCELLED] * 6
    assert fresh[1].title == "February special"  # cancelled, never deleted
    assert (fresh[2].title, local(fresh[2].starts_at, VANCOUVER).time()) == (
        "March special",
        time(13),
    )
    assert (fresh[4].duration_minutes, local(fresh[4].starts_at, VANCOUVER).time()) == (
        120,
        time(13),
    )
    assert [x.sequence for x in fresh] == [1, 2, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1]


def test_series_zone_change_keeps_the_wall_clock_time_in_the_new_zone():
    community, manager, _ = community_with(1)
    series = series_make(community, manager)
    moved = meetings_of(series)[1]
    services.meeting_update(actor=manager, meeting=moved, start_time=time(15), now=NOW)

    services.series_update(actor=manager, series=series, timezone="America/St_Johns", now=NOW)

    fresh = meetings_of(series)
    assert fresh[0].timezone == "America/St_Johns"
    assert fresh[0].starts_at == utc(2026, 1, 13, 15, 30)
    assert {local(x.starts_at, "America/St_Johns").time() for x in fresh if x.pk != moved.pk} == {
        time(12)
    }
    moved = _reload(moved)
    assert (moved.timezone, moved.starts_at) == (VANCOUVER, utc(2026, 2, 10, 23))


def test_series_edit_never_touches_a_meeting_moved_earlier_that_was_held():
    community, manager, _ = community_with(1)
    series = series_make(community, manager)
    march = meetings_of(series)[2]  # 10 March, held on 20 February instead
    services.meeting_update(actor=manager, meeting=march, day=date(2026, 2, 20), now=NOW)
    held = _reload(march)
    after = held.ends_at + MINUTE

    _series, result = services.series_update(
        actor=manager, series=series, title="Renamed", duration_minutes=90, now=after
    )

    fresh = _reload(march)
    assert (fresh.title, fresh.duration_minutes, fresh.sequence, fresh.starts_at) == (
        "Monthly call",
        60,
        held.sequence,
        held.starts_at,
    )
    assert Meeting.objects.filter(series=series, occurrence_date=date(2026, 3, 10)).count() == 1
    assert result == SyncResult(created=2, updated=9)  # January, February 2027; April to December


# Periodic work -------------------------------------------------------------------------


def test_maintain_keeps_the_horizon_and_a_second_run_changes_nothing():
    community, manager, _ = community_with(3)
    series = series_make(community, manager)
    moment = datetime(2026, 2, 14, tzinfo=UTC)

    first = services.meetings_maintain(now=moment)
    state = db_state()
    second = services.meetings_maintain(now=moment)

    # 12 Jan and 9 Feb 2027 come within the horizon; the chair of 10 March is confirmed
    # (the meeting before it has ended).
    assert first == services.MaintainResult(series=1, created=2, chairs_confirmed=1)
    assert [m.occurrence_date for m in meetings_of(series)[-2:]] == [
        date(2027, 1, 12),
        date(2027, 2, 9),
    ]
    assert second == services.MaintainResult(series=1)
    assert db_state() == state


def test_maintain_goes_on_past_a_series_that_fails():
    community, manager, _ = community_with(1)
    broken = series_make(community, manager, title="Broken")
    Series.objects.filter(pk=broken.pk).update(rrule="FREQ=HOURLY")
    other_community, other_manager, _ = community_with(1)
    series_make(other_community, other_manager, first_date=date(2026, 1, 1))

    result = services.meetings_maintain(now=datetime(2026, 2, 14, tzinfo=UTC))

    assert (result.series, result.failed, result.created) == (1, 1, 2)
    assert Meeting.objects.filter(series=broken).count() == 12


# One meeting ---------------------------------------------------------------------------


def test_meeting_create_makes_a_single_meeting_with_its_side_chat():
    community, manager, _ = community_with(1)

    meeting = services.meeting_create(
        actor=manager,
        community=community,
        title="Special session",
        day=date(2026, 3, 8),
        start_time=time(3, 0),
        duration_minutes=90,
        now=NOW,
    )

    meeting = _reload(meeting)
    assert meeting.series is None and meeting.occurrence_date is None
    assert meeting.starts_at == utc(2026, 3, 8, 10)  # 3:00 PDT, just after the change
    assert meeting.ends_at == utc(2026, 3, 8, 11, 30)
    assert (meeting.timezone, meeting.video_url, meeting.sequence) == (
        VANCOUVER,
        "https://video.example.org/cop",
        0,
    )
    assert meeting.room.kind == RoomKind.MEETING


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"duration_minutes": 0}, "bad_length", "duration_minutes"),
        ({"duration_minutes": 481}, "bad_length", "duration_minutes"),
        ({"start_time": time(2, 30), "day": date(2026, 3, 8)}, "time_missing", "start_time"),
        ({"start_time": time(1, 30), "day": date(2026, 11, 1)}, "time_repeated", "start_time"),
        ({"timezone_name": "Mars/Olympus"}, "unknown_zone", "timezone"),
        ({"day": date(2026, 1, 4)}, "in_past", "day"),
        ({"title": ""}, "no_title", "title"),
        ({"video_url": "nope"}, "invalid", "video_url"),
    ],
)
def test_meeting_create_refuses_bad_input_and_changes_nothing(fields, code, field):
    community, manager, _ = community_with(1)
    values = {"title": "One", "day": date(2026, 2, 1), "start_time": time(12), **fields}

    _refused(
        lambda: services.meeting_create(actor=manager, community=community, now=NOW, **values),
        code=code,
        field=field,
    )


# The sequence --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "own"),
    [
        ({"title": "Retitled"}, ["title"]),
        ({"day": date(2026, 2, 11)}, ["start"]),
        ({"start_time": time(13)}, ["start"]),
        ({"timezone_name": "America/Regina"}, ["start"]),
        ({"duration_minutes": 120}, ["duration"]),
        ({"video_url": "https://other.example.org/v"}, ["video_url"]),
        (
            {"title": "All", "start_time": time(9), "duration_minutes": 30, "video_url": ""},
            ["duration", "start", "title", "video_url"],
        ),
    ],
)
def test_meeting_update_raises_the_sequence_by_exactly_one(change, own):
    community, manager, _ = community_with(1)
    meeting = meetings_of(series_make(community, manager))[1]

    services.meeting_update(actor=manager, meeting=meeting, now=NOW, **change)

    fresh = _reload(meeting)
    assert fresh.sequence == 1
    assert fresh.own_changes == own
    assert fresh.updated_at == NOW


def test_meeting_update_to_the_same_values_changes_nothing_members_see():
    community, manager, _ = community_with(1)
    meeting = meetings_of(series_make(community, manager))[1]

    services.meeting_update(
        actor=manager,
        meeting=meeting,
        title="Monthly call",
        day=date(2026, 2, 10),
        start_time=time(12),
        duration_minutes=60,
        video_url="https://video.example.org/cop",
        now=NOW,
    )

    fresh = _reload(meeting)
    assert (fresh.sequence, fresh.own_changes) == (0, [])


def test_meeting_update_moves_only_that_meeting():
    community, manager, _ = community_with(1)
    meetings = meetings_of(series_make(community, manager))

    services.meeting_update(
        actor=manager, meeting=meetings[2], day=date(2026, 3, 11), start_time=time(15), now=NOW
    )

    fresh = [_reload(m) for m in meetings]
    assert fresh[2].starts_at == utc(2026, 3, 11, 22)
    assert fresh[2].ends_at == utc(2026, 3, 11, 23)
    assert [m.starts_at for m in fresh[:2] + fresh[3:]] == [
        m.starts_at for m in meetings[:2] + meetings[3:]
    ]
    assert [m.sequence for m in fresh] == [0, 0, 1] + [0] * 9


def test_meeting_cancel_raises_the_sequence_and_keeps_the_meeting():
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]
    services.answer_set(user=users[0], meeting=meeting, response=Response.YES, now=NOW)

    services.meeting_cancel(actor=manager, meeting=meeting, now=NOW)

    fresh = _reload(meeting)
    assert (fresh.status, fresh.cancelled_at, fresh.sequence, fresh.own_changes) == (
        MeetingStatus.CANCELLED,
        NOW,
        1,
        ["status"],
    )
    assert fresh.answers.count() == 1


def test_changes_members_do_not_see_leave_the_sequence(django_capture_on_commit_callbacks):
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    services.chair_confirm(actor=manager, meeting=meetings[0], now=NOW)
    confirmed = _reload(meetings[0])
    assert confirmed.sequence == 1

    services.answer_set(user=users[2], meeting=confirmed, response=Response.YES, now=NOW)
    services.answer_set(user=users[1], meeting=confirmed, response=Response.NO, now=NOW)  # backup
    services.chair_willing_set(user=users[2], community=community, willing=False, now=NOW)
    swap = services.swap_propose(
        user=users[1], meeting=meetings[1], partner_meeting=meetings[2], now=NOW
    )
    services.swap_withdraw(user=users[1], swap=swap, now=NOW)
    services.attendance_set(
        actor=manager,
        meeting=meetings[0],
        user=users[0],
        status=AttendanceStatus.PRESENT,
        now=meetings[0].starts_at,
    )

    fresh = _reload(meetings[0])
    assert fresh.sequence == 1
    assert fresh.backup is None  # B said no, then C stopped being willing: nobody left
    assert [m.sequence for m in map(_reload, meetings[1:])] == [0] * 11


# Refusals on one meeting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"duration_minutes": 0}, "bad_length", "duration_minutes"),
        ({"duration_minutes": 481}, "bad_length", "duration_minutes"),
        ({"day": date(2026, 3, 8), "start_time": time(2, 30)}, "time_missing", "start_time"),
        ({"day": date(2026, 11, 1), "start_time": time(1, 30)}, "time_repeated", "start_time"),
        ({"timezone_name": "Mars/Olympus"}, "unknown_zone", "timezone"),
        ({"day": date(2026, 1, 5), "start_time": time(3)}, "in_past", "day"),
        ({"title": "  "}, "no_title", "title"),
        ({"video_url": "nope"}, "invalid", "video_url"),
    ],
)
def test_meeting_update_refuses_bad_input_and_changes_nothing(fields, code, field):
    community, manager, _ = community_with(1)
    meeting = meetings_of(series_make(community, manager))[1]

    _refused(
        lambda: services.meeting_update(actor=manager, meeting=meeting, now=NOW, **fields),
        code=code,
        field=field,
    )


def _calls_on_a_meeting(manager, member):
    return {
        "meeting_update": lambda m, now: services.meeting_update(
            actor=manager, meeting=m, title="New", now=now
        ),
        "meeting_cancel": lambda m, now: services.meeting_cancel(actor=manager, meeting=m, now=now),
        "answer_set": lambda m, now: services.answer_set(
            user=member, meeting=m, response=Response.YES, now=now
        ),
        "chair_confirm": lambda m, now: services.chair_confirm(actor=manager, meeting=m, now=now),
        "chair_override": lambda m, now: services.chair_override(
            actor=manager, meeting=m, user=member, now=now
        ),
    }


@pytest.mark.parametrize(
    "name", ["meeting_update", "meeting_cancel", "answer_set", "chair_confirm", "chair_override"]
)
@pytest.mark.parametrize(("when", "code"), [("during", "started"), ("after", "ended")])
def test_a_meeting_that_started_or_ended_cannot_change(name, when, code):
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]
    now = meeting.starts_at if when == "during" else meeting.ends_at
    if name == "answer_set":
        code = "started"  # an answer after the start, whether it ended or not

    _refused(lambda: _calls_on_a_meeting(manager, users[0])[name](meeting, now), code=code)


@pytest.mark.parametrize(
    "name", ["meeting_update", "meeting_cancel", "answer_set", "chair_confirm", "chair_override"]
)
def test_a_cancelled_meeting_cannot_change(name):
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]
    services.meeting_cancel(actor=manager, meeting=meeting, now=NOW)

    _refused(lambda: _calls_on_a_meeting(manager, users[0])[name](meeting, NOW), code="cancelled")


def _manager_calls(community, series, meeting, target):
    return {
        "series_create": lambda actor: services.series_create(
            actor=actor, community=community, now=NOW, **_series_values()
        ),
        "series_update": lambda actor: services.series_update(
            actor=actor, series=series, title="Mine", now=NOW
        ),
        "meeting_create": lambda actor: services.meeting_create(
            actor=actor,
            community=community,
            title="Mine",
            day=date(2026, 2, 1),
            start_time=time(12),
            now=NOW,
        ),
        "meeting_update": lambda actor: services.meeting_update(
            actor=actor, meeting=meeting, title="Mine", now=NOW
        ),
        "meeting_cancel": lambda actor: services.meeting_cancel(
            actor=actor, meeting=meeting, now=NOW
        ),
        "chair_confirm": lambda actor: services.chair_confirm(
            actor=actor, meeting=meeting, now=NOW
        ),
        "chair_override": lambda actor: services.chair_override(
            actor=actor, meeting=meeting, user=target, now=NOW
        ),
        "attendance_set": lambda actor: services.attendance_set(
            actor=actor,
            meeting=meeting,
            user=target,
            status=AttendanceStatus.PRESENT,
            now=meeting.starts_at,
        ),
    }


MANAGER_SERVICES = [
    "series_create",
    "series_update",
    "meeting_create",
    "meeting_update",
    "meeting_cancel",
    "chair_confirm",
    "chair_override",
    "attendance_set",
]


@pytest.mark.parametrize("name", MANAGER_SERVICES)
@pytest.mark.parametrize("who", ["member", "outsider", "former manager"])
def test_manager_services_refuse_everyone_else(name, who):
    community, manager, users = community_with(2)
    series = series_make(community, manager)
    meeting = meetings_of(series)[0]
    if who == "member":
        actor = users[0]
    elif who == "outsider":
        actor = UserFactory()
    else:
        actor = member_add(community, joined=NOW - timedelta(days=30))
        Membership.objects.filter(user=actor).update(role="manager", status=MembershipStatus.LEFT)

    _refused(
        lambda: _manager_calls(community, series, meeting, users[1])[name](actor),
        code="not_manager",
        forbidden=True,
        error=CommunityActionError,
    )


@pytest.mark.parametrize("name", MANAGER_SERVICES)
def test_site_staff_may_call_manager_services(name):
    community, manager, users = community_with(2)
    series = series_make(community, manager)
    meeting = meetings_of(series)[0]
    staff = UserFactory(is_staff=True)

    _manager_calls(community, series, meeting, users[1])[name](staff)


def test_invitation_only_community_is_not_found_for_outsiders():
    community, manager, _ = community_with(1, join_policy=JoinPolicy.INVITATION)
    series = series_make(community, manager)
    before = db_state()

    with pytest.raises(CommunityNotFound):
        services.series_update(actor=UserFactory(), series=series, title="Mine", now=NOW)

    assert db_state() == before


# Answers -------------------------------------------------------------------------------


def test_answer_set_records_and_changes_an_answer_until_the_start():
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]

    services.answer_set(
        user=users[0], meeting=meeting, response=Response.YES, note="  see   you ", now=NOW
    )
    last_minute = meeting.starts_at - MINUTE
    answer = services.answer_set(
        user=users[0], meeting=meeting, response=Response.MAYBE, now=last_minute
    )

    assert Answer.objects.filter(meeting=meeting).count() == 1
    answer.refresh_from_db()
    assert (answer.response, answer.note, answer.answered_at) == (Response.MAYBE, "", last_minute)
    assert _reload(meeting).sequence == 0


def test_answer_note_is_tidied():
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]

    answer = services.answer_set(
        user=users[0], meeting=meeting, response=Response.NO, note="  away \n that  week ", now=NOW
    )

    assert answer.note == "away that week"


@pytest.mark.parametrize(
    ("response", "note", "code", "field"),
    [
        ("perhaps", "", "bad_answer", "response"),
        ("", "", "bad_answer", "response"),
        (Response.YES, "x" * 501, "long_note", "note"),
    ],
)
def test_answer_set_refuses_bad_input(response, note, code, field):
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]

    _refused(
        lambda: services.answer_set(
            user=users[0], meeting=meeting, response=response, note=note, now=NOW
        ),
        code=code,
        field=field,
    )


@pytest.mark.parametrize("who", ["outsider", "left", "pending", "other community"])
def test_only_active_members_answer(who):
    community, manager, _users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]
    user = UserFactory()
    if who == "left":
        MembershipFactory(community=community, user=user, status=MembershipStatus.LEFT)
    elif who == "pending":
        MembershipFactory(
            community=community, user=user, status=MembershipStatus.PENDING, joined_at=None
        )
    elif who == "other community":
        MembershipFactory(community=CommunityFactory(), user=user)

    _refused(
        lambda: services.answer_set(user=user, meeting=meeting, response=Response.YES, now=NOW),
        code="not_member",
        forbidden=True,
    )


# Attendance ----------------------------------------------------------------------------


def test_attendance_is_recorded_from_the_start_and_can_be_corrected():
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]

    services.attendance_set(
        actor=manager,
        meeting=meeting,
        user=users[0],
        status=AttendanceStatus.PRESENT,
        now=meeting.starts_at,
    )
    services.attendance_set(
        actor=manager,
        meeting=meeting,
        user=users[0],
        status=AttendanceStatus.REGRETS,
        now=meeting.ends_at + timedelta(days=2),
    )

    row = Attendance.objects.get(meeting=meeting, user=users[0])
    assert (row.status, row.recorded_by, row.recorded_at) == (
        AttendanceStatus.REGRETS,
        manager,
        meeting.ends_at + timedelta(days=2),
    )
    assert Attendance.objects.count() == 1


def test_attendance_of_a_former_member_can_still_be_recorded():
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]
    Membership.objects.filter(user=users[0]).update(status=MembershipStatus.LEFT)

    services.attendance_set(
        actor=manager,
        meeting=meeting,
        user=users[0],
        status=AttendanceStatus.ABSENT,
        now=meeting.ends_at,
    )

    assert Attendance.objects.get().status == AttendanceStatus.ABSENT


@pytest.mark.parametrize(
    ("status", "when", "who", "code", "field"),
    [
        (AttendanceStatus.PRESENT, "before", "member", "not_started", None),
        ("late", "after", "member", "bad_status", "status"),
        (AttendanceStatus.PRESENT, "after", "outsider", "not_member", None),
    ],
)
def test_attendance_refusals(status, when, who, code, field):
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]
    now = meeting.starts_at - MINUTE if when == "before" else meeting.ends_at
    user = users[0] if who == "member" else UserFactory()

    _refused(
        lambda: services.attendance_set(
            actor=manager, meeting=meeting, user=user, status=status, now=now
        ),
        code=code,
        field=field,
    )


def test_attendance_of_a_cancelled_meeting_is_refused():
    community, manager, users = community_with(1)
    meeting = meetings_of(series_make(community, manager))[0]
    services.meeting_cancel(actor=manager, meeting=meeting, now=NOW)

    _refused(
        lambda: services.attendance_set(
            actor=manager,
            meeting=_reload(meeting),
            user=users[0],
            status=AttendanceStatus.PRESENT,
            now=meeting.ends_at,
        ),
        code="cancelled",
    )


# Confirming the chair ------------------------------------------------------------------


def _series_from_december(community, manager):
    """Meetings from 13 January 2026, created on 1 December 2025."""
    return series_make(community, manager, now=datetime(2025, 12, 1, tzinfo=UTC))


def test_chair_is_confirmed_28_days_before_and_not_a_minute_earlier(
    django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users = community_with(3)
    first = meetings_of(_series_from_december(community, manager))[0]  # 13 Jan 20:00 UTC
    due = first.starts_at - timedelta(days=28)

    with django_capture_on_commit_callbacks(execute=True):
        early = services.meetings_maintain(now=due - MINUTE)
    assert early.chairs_confirmed == 0
    assert _reload(first).chair is None
    with django_capture_on_commit_callbacks(execute=True):
        on_time = services.meetings_maintain(now=due)

    assert on_time.chairs_confirmed == 1
    fresh = _reload(first)
    assert (fresh.chair, fresh.backup, fresh.chair_confirmed_at) == (users[0], users[1], due)
    assert (fresh.chair_source, fresh.sequence) == (ChairSource.ROTA, 1)
    assert fresh.chair_reason.startswith("never chaired; joined ")
    log = ChairChange.objects.get(meeting=first)
    assert (log.chair, log.previous, log.kind, log.actor, log.at, log.reason) == (
        users[0],
        None,
        ChairSource.ROTA,
        None,
        due,
        fresh.chair_reason,
    )
    assert [m.to for m in mailoutbox] == [[users[0].email]]
    assert mailoutbox[0].subject == f"You chair the next meeting of {community.name}"
    assert "Your backup, if you cannot come: Member B." in mailoutbox[0].body
    assert f"/c/{community.slug}/meetings/{first.pk}/handover/" in mailoutbox[0].body


def test_chair_is_confirmed_once_the_previous_meeting_has_ended():
    community, manager, _users = community_with(3)
    meetings = meetings_of(_series_from_december(community, manager))
    march, april = meetings[2], meetings[3]  # 10 March 19:00 UTC, 14 April 19:00 UTC: 5 weeks
    assert april.starts_at - march.ends_at > timedelta(days=28)

    services.meetings_maintain(now=march.ends_at - MINUTE)
    assert _reload(april).chair_confirmed_at is None
    result = services.meetings_maintain(now=march.ends_at)

    assert result.chairs_confirmed == 1
    assert _reload(april).chair_confirmed_at == march.ends_at
    assert _reload(april).chair is not None
    for later in meetings[4:]:  # further out: still the rota's projection
        fresh = _reload(later)
        assert (fresh.chair, fresh.backup, fresh.chair_confirmed_at) == (None, None, None)
    turns = selectors.rota_turns(community=community, now=march.ends_at)
    assert [t.confirmed for t in turns] == [True] + [False] * (len(turns) - 1)
    assert all(t.chair is not None for t in turns)


def test_a_cancelled_previous_meeting_does_not_hold_the_next_back():
    community, manager, _users = community_with(3)
    meetings = meetings_of(_series_from_december(community, manager))
    feb, march, april = meetings[1], meetings[2], meetings[3]
    services.meeting_cancel(actor=manager, meeting=march, now=NOW)

    result = services.meetings_maintain(now=feb.ends_at)

    assert result.chairs_confirmed == 1
    assert _reload(april).chair_confirmed_at == feb.ends_at
    assert _reload(march).chair is None


def test_confirmation_is_idempotent():
    community, manager, _users = community_with(3)
    first = meetings_of(series_make(community, manager))[0]

    assert services.meetings_maintain(now=NOW).chairs_confirmed == 1
    state = db_state()
    assert services.meetings_maintain(now=NOW).chairs_confirmed == 0
    assert services.chairs_confirm_due(now=NOW + timedelta(hours=1)) == 0

    assert db_state() == state
    assert _reload(first).sequence == 1
    assert ChairChange.objects.count() == 1


def test_weekly_meetings_within_28_days_are_all_confirmed_in_rota_order():
    community, manager, users = community_with(3)
    series_make(community, manager, rrule="FREQ=WEEKLY;BYDAY=TU")

    result = services.meetings_maintain(now=NOW)

    meetings = meetings_of(community)
    assert result.chairs_confirmed == 4  # 6, 13, 20 and 27 January: within 28 days
    assert [m.chair for m in meetings[:4]] == [users[0], users[1], users[2], users[0]]
    assert [m.backup for m in meetings[:4]] == [users[1], users[2], users[0], users[1]]
    assert meetings[4].chair is None


def test_manager_confirms_a_chair_at_any_time(django_capture_on_commit_callbacks, mailoutbox):
    community, manager, _users = community_with(3)
    far = meetings_of(series_make(community, manager))[6]

    with django_capture_on_commit_callbacks(execute=True):
        services.chair_confirm(actor=manager, meeting=far, now=NOW)

    fresh = _reload(far)
    turns = {t.meeting.pk: t for t in selectors.rota_turns(community=community, now=NOW)}
    assert fresh.chair == turns[far.pk].chair
    assert fresh.chair_confirmed_at == NOW and fresh.sequence == 1
    assert ChairChange.objects.get(meeting=far).actor == manager
    assert [m.to for m in mailoutbox] == [[fresh.chair.email]]
    _refused(lambda: services.chair_confirm(actor=manager, meeting=far, now=NOW), code="confirmed")


def test_manager_confirmation_without_anyone_willing_says_why():
    community, manager, _users = community_with(2)
    Membership.objects.filter(community=community).update(willing_to_chair=False)
    meeting = meetings_of(series_make(community, manager))[0]

    error = _refused(
        lambda: services.chair_confirm(actor=manager, meeting=meeting, now=NOW), code="no_chair"
    )

    assert str(error.message) == "No chair yet: no member is willing to chair."


# The rota over two years ---------------------------------------------------------------


def _simulate(community, months, *, start=NOW, between=None):
    """Let time pass meeting by meeting: the periodic work just after each meeting ends
    confirms the next chair. `between(i, now)` may act before meeting i. Returns the
    meetings held, in order."""
    held = []
    now = start
    for i in range(months):
        services.meetings_maintain(now=now)
        if between is not None:
            between(i, now)
            services.meetings_maintain(now=now)
        meeting = selectors.meetings_upcoming(community=community, now=now).first()
        assert meeting.chair_confirmed_at is not None, (i, meeting)
        held.append(meeting)
        now = meeting.ends_at + MINUTE
    return held


def test_over_24_months_nobody_chairs_twice_before_everyone_once():
    community, manager, users = community_with(5)
    member_add(community, joined=NOW - timedelta(days=10), willing=False)
    series_make(community, manager)

    held = _simulate(community, 24)

    chairs = [m.chair_id for m in held]
    willing = {u.pk for u in users}
    for start in range(24 - 5 + 1):
        assert set(chairs[start : start + 5]) == willing, chairs
    assert chairs[:5] == [u.pk for u in users]  # never chaired, joined first
    assert len({m.pk for m in held}) == 24
    rows = selectors.rota_fairness(community=community, now=held[-1].ends_at)
    assert sorted(r.times for r in rows) == [0, 0, 4, 5, 5, 5, 5]  # manager, unwilling, users
    assert ChairChange.objects.filter(kind=ChairSource.ROTA).count() == 24


def test_a_newcomer_goes_before_everyone_who_chaired():
    community, manager, users = community_with(3)
    series_make(community, manager)
    newcomer = {}

    def join(i, now):
        if i == 4:
            newcomer["user"] = member_add(community, joined=now, name="Newcomer")

    held = _simulate(community, 8, between=join)

    # A B C A | meeting 5 was confirmed when meeting 4 ended, before the newcomer joined:
    # B; then the newcomer, then C A B.
    assert [m.chair for m in held] == [
        users[0],
        users[1],
        users[2],
        users[0],
        users[1],
        newcomer["user"],
        users[2],
        users[0],
    ]
    assert held[5].chair_reason.startswith("never chaired; joined ")
    assert held[6].chair_reason.startswith("last chaired ")


def test_answering_no_skips_a_projected_turn_for_that_meeting_only():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))

    services.answer_set(
        user=users[0], meeting=meetings[0], response=Response.NO, note="away", now=NOW
    )

    turns = selectors.rota_turns(community=community, now=NOW)
    assert [t.chair for t in turns[:4]] == [users[1], users[0], users[2], users[1]]
    assert ChairChange.objects.count() == 0


def test_confirmed_chair_who_answers_no_is_replaced_and_the_new_chair_told(
    django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users = community_with(3)
    first = meetings_of(series_make(community, manager))[0]
    # The first chair's confirmation is committed (and sent) before the change.
    with django_capture_on_commit_callbacks(execute=True):
        services.meetings_maintain(now=NOW)
    later = NOW + timedelta(days=2)

    with django_capture_on_commit_callbacks(execute=True):
        services.answer_set(user=users[0], meeting=first, response=Response.NO, now=later)

    fresh = _reload(first)
    assert (fresh.chair, fresh.backup, fresh.chair_confirmed_at) == (users[1], users[2], later)
    assert fresh.sequence == 2
    log = ChairChange.objects.filter(meeting=first).order_by("at", "id").last()
    assert (log.kind, log.chair, log.previous, log.actor, log.at) == (
        ChairSource.ANSWERED_NO,
        users[1],
        users[0],
        None,
        later,
    )
    assert [m.to for m in mailoutbox] == [[users[0].email], [users[1].email]]


def test_confirmed_backup_who_answers_no_is_replaced_and_the_chair_stays():
    community, manager, users = community_with(3)
    first = meetings_of(series_make(community, manager))[0]
    services.meetings_maintain(now=NOW)

    services.answer_set(user=users[1], meeting=first, response=Response.NO, now=NOW)

    fresh = _reload(first)
    assert (fresh.chair, fresh.backup, fresh.sequence) == (users[0], users[2], 1)


def test_only_willing_chair_who_answers_no_leaves_the_meeting_without_a_chair():
    community, manager, users = community_with(1)
    first = meetings_of(series_make(community, manager))[0]
    services.meetings_maintain(now=NOW)

    services.answer_set(user=users[0], meeting=first, response=Response.NO, now=NOW)

    fresh = _reload(first)
    assert (fresh.chair, fresh.chair_confirmed_at, fresh.sequence) == (None, None, 2)
    turn = selectors.rota_turn(meeting=first, now=NOW)
    assert turn.chair is None
    assert turn.reason == "No chair yet: every member willing to chair answered no."
    assert ChairChange.objects.filter(meeting=first).order_by("id").last().kind == (
        ChairSource.ANSWERED_NO
    )


def test_opting_out_gives_up_every_turn_and_a_confirmed_chair_is_replaced(
    django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    # The first chair's confirmation is committed (and sent) before the change.
    with django_capture_on_commit_callbacks(execute=True):
        services.meetings_maintain(now=NOW)

    with django_capture_on_commit_callbacks(execute=True):
        membership = services.chair_willing_set(
            user=users[0], community=community, willing=False, now=NOW
        )

    assert membership.willing_to_chair is False
    fresh = _reload(meetings[0])
    assert (fresh.chair, fresh.backup, fresh.sequence) == (users[1], users[2], 2)
    log = ChairChange.objects.filter(meeting=meetings[0]).order_by("id").last()
    assert (log.kind, log.previous, log.chair) == (ChairSource.NOT_WILLING, users[0], users[1])
    assert [m.to for m in mailoutbox] == [[users[0].email], [users[1].email]]
    turns = selectors.rota_turns(community=community, now=NOW)
    assert users[0] not in {t.chair for t in turns} | {t.backup for t in turns}


def test_opting_back_in_puts_a_member_back_in_the_rota():
    community, manager, users = community_with(3)
    series_make(community, manager)
    services.chair_willing_set(user=users[0], community=community, willing=False, now=NOW)

    services.chair_willing_set(user=users[0], community=community, willing=True, now=NOW)

    turns = selectors.rota_turns(community=community, now=NOW)
    assert [t.chair for t in turns[:3]] == users


def test_saying_the_same_willingness_again_changes_nothing():
    community, manager, users = community_with(2)
    series_make(community, manager)
    services.meetings_maintain(now=NOW)
    state = db_state()

    services.chair_willing_set(user=users[0], community=community, willing=True, now=NOW)

    assert db_state() == state


def test_only_members_say_whether_they_are_willing():
    community, _manager, _users = community_with(1)

    _refused(
        lambda: services.chair_willing_set(
            user=UserFactory(), community=community, willing=False, now=NOW
        ),
        code="not_member",
        forbidden=True,
    )


def test_a_community_with_one_willing_member():
    community, manager, users = community_with(3)
    Membership.objects.filter(user__in=users[1:]).update(willing_to_chair=False)
    series_make(community, manager)

    held = _simulate(community, 3)

    assert [(m.chair, m.backup) for m in held] == [(users[0], None)] * 3
    turns = selectors.rota_turns(community=community, now=held[-1].ends_at)
    assert {(t.chair, t.backup) for t in turns} == {(users[0], None)}


def test_a_community_with_nobody_willing():
    community, manager, _users = community_with(2)
    Membership.objects.filter(community=community).update(willing_to_chair=False)
    meetings = meetings_of(series_make(community, manager))

    result = services.meetings_maintain(now=NOW)

    assert result.chairs_confirmed == 0
    assert {(m.chair, m.chair_confirmed_at) for m in map(_reload, meetings)} == {(None, None)}
    turns = selectors.rota_turns(community=community, now=NOW)
    assert {(t.chair, t.backup, t.confirmed) for t in turns} == {(None, None, False)}
    assert {t.reason for t in turns} == {"No chair yet: no member is willing to chair."}
    assert ChairChange.objects.count() == 0


# Swaps ---------------------------------------------------------------------------------


def test_swap_proposed_and_accepted_exchanges_two_turns(
    django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    a, b = users[0], users[1]
    later = NOW + timedelta(days=1)

    with django_capture_on_commit_callbacks(execute=True):
        swap = services.swap_propose(
            user=a, meeting=meetings[0], partner_meeting=meetings[1], now=NOW
        )
    assert (swap.status, swap.proposer, swap.partner, swap.created_at) == (
        SwapStatus.PROPOSED,
        a,
        b,
        NOW,
    )
    assert [m.to for m in mailoutbox] == [[b.email]]
    with django_capture_on_commit_callbacks(execute=True):
        services.swap_answer(user=b, swap=swap, accept=True, now=later)

    swap.refresh_from_db()
    assert (swap.status, swap.decided_at) == (SwapStatus.ACCEPTED, later)
    assert [m.to for m in mailoutbox] == [[b.email], [a.email]]
    first, second = _reload(meetings[0]), _reload(meetings[1])
    assert (first.chair, first.chair_source, first.sequence) == (b, ChairSource.SWAP, 1)
    assert (second.chair, second.chair_source, second.sequence) == (a, ChairSource.SWAP, 1)
    assert first.chair_reason == "swapped between Member A and Member B"
    assert first.chair_confirmed_at is None  # still to be confirmed when due
    logs = ChairChange.objects.filter(kind=ChairSource.SWAP).order_by("id")
    assert [(log.meeting_id, log.chair, log.previous, log.actor, log.at) for log in logs] == [
        (meetings[0].pk, b, a, b, later),
        (meetings[1].pk, a, b, b, later),
    ]
    turns = selectors.rota_turns(community=community, now=later)
    assert [t.chair for t in turns[:5]] == [b, a, users[2], b, a]
    assert turns[0].reason == "swapped between Member A and Member B"


def test_swap_is_kept_when_the_chair_is_confirmed():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    swap = services.swap_propose(
        user=users[0], meeting=meetings[0], partner_meeting=meetings[1], now=NOW
    )
    services.swap_answer(user=users[1], swap=swap, accept=True, now=NOW)

    services.meetings_maintain(now=NOW)

    first = _reload(meetings[0])
    # The next in line after B: A and C never chaired, A joined first.
    assert (first.chair, first.backup, first.chair_source) == (users[1], users[0], ChairSource.SWAP)
    assert first.chair_reason == "swapped between Member A and Member B"
    assert first.sequence == 1  # the chair members see has not changed since the swap


def test_swap_of_a_confirmed_turn_refreshes_its_backup():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    services.meetings_maintain(now=NOW)  # first: A, backup B
    swap = services.swap_propose(
        user=users[0], meeting=meetings[0], partner_meeting=meetings[1], now=NOW
    )

    services.swap_answer(user=users[1], swap=swap, accept=True, now=NOW)

    first = _reload(meetings[0])
    assert (first.chair, first.backup, first.sequence) == (users[1], users[0], 2)
    assert first.chair_confirmed_at is not None


def test_swap_declined_changes_no_turn():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    swap = services.swap_propose(
        user=users[0], meeting=meetings[0], partner_meeting=meetings[1], now=NOW
    )

    services.swap_answer(user=users[1], swap=swap, accept=False, now=NOW)

    swap.refresh_from_db()
    assert (swap.status, swap.decided_at) == (SwapStatus.DECLINED, NOW)
    assert {m.chair_id for m in meetings_of(community)} == {None}
    assert ChairChange.objects.count() == 0
    _refused(
        lambda: services.swap_answer(user=users[1], swap=swap, accept=True, now=NOW),
        code="answered",
    )


def test_swap_withdrawn():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    swap = services.swap_propose(
        user=users[0], meeting=meetings[0], partner_meeting=meetings[1], now=NOW
    )
    _refused(
        lambda: services.swap_withdraw(user=users[1], swap=swap, now=NOW),
        code="not_yours",
        forbidden=True,
    )

    services.swap_withdraw(user=users[0], swap=swap, now=NOW)

    swap.refresh_from_db()
    assert (swap.status, swap.decided_at) == (SwapStatus.WITHDRAWN, NOW)
    _refused(
        lambda: services.swap_answer(user=users[1], swap=swap, accept=True, now=NOW),
        code="answered",
    )
    _refused(lambda: services.swap_withdraw(user=users[0], swap=swap, now=NOW), code="answered")


def test_swap_is_void_when_the_turns_changed_since():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    swap = services.swap_propose(
        user=users[0], meeting=meetings[0], partner_meeting=meetings[1], now=NOW
    )
    services.chair_override(actor=manager, meeting=meetings[1], user=users[2], now=NOW)
    chairs = [m.chair_id for m in meetings_of(community)]

    with pytest.raises(MeetingError) as caught:
        services.swap_answer(user=users[1], swap=swap, accept=True, now=NOW)

    assert caught.value.code == "void"
    swap.refresh_from_db()
    assert (swap.status, swap.decided_at) == (SwapStatus.VOID, NOW)
    assert [m.chair_id for m in meetings_of(community)] == chairs
    assert not ChairChange.objects.filter(kind=ChairSource.SWAP).exists()


def test_open_swaps_are_void_when_a_member_opts_out():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    swap = services.swap_propose(
        user=users[0], meeting=meetings[0], partner_meeting=meetings[1], now=NOW
    )

    services.chair_willing_set(user=users[1], community=community, willing=False, now=NOW)

    swap.refresh_from_db()
    assert (swap.status, swap.decided_at) == (SwapStatus.VOID, NOW)


def test_swap_refusals():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    other_community, other_manager, _ = community_with(2)
    elsewhere = meetings_of(series_make(other_community, other_manager))[0]
    a, b, c = users

    def propose(user, mine, theirs):
        return lambda: services.swap_propose(
            user=user, meeting=mine, partner_meeting=theirs, now=NOW
        )

    _refused(propose(b, meetings[0], meetings[1]), code="not_your_turn", forbidden=True)
    _refused(propose(a, meetings[0], meetings[0]), code="bad_swap", field="partner_meeting")
    _refused(propose(a, meetings[0], elsewhere), code="bad_swap", field="partner_meeting")
    _refused(propose(a, meetings[0], meetings[3]), code="bad_swap", field="partner_meeting")
    _refused(propose(UserFactory(), meetings[0], meetings[1]), code="not_member", forbidden=True)
    services.meeting_cancel(actor=manager, meeting=meetings[2], now=NOW)  # c's turn moves on
    _refused(propose(a, meetings[0], meetings[2]), code="bad_swap")
    swap = propose(a, meetings[0], meetings[1])()
    _refused(propose(a, meetings[0], meetings[1]), code="already_proposed")
    _refused(
        lambda: services.swap_answer(user=c, swap=swap, accept=True, now=NOW),
        code="not_yours",
        forbidden=True,
    )


def test_a_meeting_that_started_cannot_be_swapped():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))

    _refused(
        lambda: services.swap_propose(
            user=users[0],
            meeting=meetings[0],
            partner_meeting=meetings[1],
            now=meetings[0].starts_at,
        ),
        code="bad_swap",
    )


# A manager's override ------------------------------------------------------------------


def test_override_of_a_projected_turn_fixes_the_chair(
    django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))

    with django_capture_on_commit_callbacks(execute=True):
        services.chair_override(actor=manager, meeting=meetings[0], user=users[2], now=NOW)

    first = _reload(meetings[0])
    assert (first.chair, first.chair_source, first.chair_reason, first.sequence) == (
        users[2],
        ChairSource.OVERRIDE,
        "chosen by Manager",
        1,
    )
    assert first.chair_confirmed_at is None
    assert mailoutbox == []  # told when confirmed
    log = ChairChange.objects.get()
    assert (log.kind, log.chair, log.previous, log.actor, log.at) == (
        ChairSource.OVERRIDE,
        users[2],
        None,
        manager,
        NOW,
    )
    turns = selectors.rota_turns(community=community, now=NOW)
    assert [t.chair for t in turns[:4]] == [users[2], users[0], users[1], users[2]]
    with django_capture_on_commit_callbacks(execute=True):
        services.meetings_maintain(now=NOW)
    first = _reload(meetings[0])
    assert (first.chair, first.chair_source, first.backup) == (
        users[2],
        ChairSource.OVERRIDE,
        users[0],
    )
    assert [m.to for m in mailoutbox] == [[users[2].email]]


def test_override_of_a_confirmed_chair_tells_the_new_chair(
    django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users = community_with(3)
    first = meetings_of(series_make(community, manager))[0]
    # The first chair's confirmation is committed (and sent) before the change.
    with django_capture_on_commit_callbacks(execute=True):
        services.meetings_maintain(now=NOW)  # A, backup B

    with django_capture_on_commit_callbacks(execute=True):
        services.chair_override(actor=manager, meeting=first, user=users[1], now=NOW)

    fresh = _reload(first)
    assert (fresh.chair, fresh.backup, fresh.sequence) == (users[1], users[0], 2)
    assert fresh.chair_confirmed_at is not None
    log = ChairChange.objects.filter(kind=ChairSource.OVERRIDE).get()
    assert (log.previous, log.chair, log.actor) == (users[0], users[1], manager)
    assert [m.to for m in mailoutbox] == [[users[0].email], [users[1].email]]


def test_override_may_choose_someone_not_willing():
    community, manager, _users = community_with(2)
    first = meetings_of(series_make(community, manager))[0]

    services.chair_override(actor=manager, meeting=first, user=manager, now=NOW)

    assert _reload(first).chair == manager


@pytest.mark.parametrize("who", ["outsider", "left", "inactive account"])
def test_override_chooses_only_an_active_member(who):
    community, manager, users = community_with(2)
    first = meetings_of(series_make(community, manager))[0]
    user = users[0]
    if who == "outsider":
        user = UserFactory()
    elif who == "left":
        Membership.objects.filter(user=user).update(status=MembershipStatus.LEFT)
    else:
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        user.refresh_from_db()

    _refused(
        lambda: services.chair_override(actor=manager, meeting=first, user=user, now=NOW),
        code="not_member",
        field="chair",
    )


# The log -------------------------------------------------------------------------------


def test_every_chair_change_is_logged_with_who_when_and_why():
    community, manager, users = community_with(3)
    meetings = meetings_of(series_make(community, manager))
    a, b, c = users
    t = [NOW + timedelta(hours=i) for i in range(5)]

    services.chair_confirm(actor=manager, meeting=meetings[0], now=t[0])  # A, backup B
    services.chair_override(actor=manager, meeting=meetings[0], user=c, now=t[1])
    # The rota now gives the second meeting to A: C offers to swap.
    swap = services.swap_propose(user=c, meeting=meetings[0], partner_meeting=meetings[1], now=t[2])
    assert swap.partner == a
    services.swap_answer(user=a, swap=swap, accept=True, now=t[2])
    services.answer_set(user=c, meeting=meetings[1], response=Response.NO, now=t[3])
    services.chair_willing_set(user=a, community=community, willing=False, now=t[4])

    log = [
        (x.meeting_id, x.kind, x.previous, x.chair, x.actor, x.at, x.reason)
        for x in ChairChange.objects.order_by("at", "id")
    ]
    first, second = meetings[0].pk, meetings[1].pk
    swapped = "swapped between Member C and Member A"
    assert log == [
        (first, ChairSource.ROTA, None, a, manager, t[0], log[0][6]),
        (first, ChairSource.OVERRIDE, a, c, manager, t[1], "chosen by Manager"),
        (first, ChairSource.SWAP, c, a, a, t[2], swapped),
        (second, ChairSource.SWAP, a, c, a, t[2], swapped),
        (second, ChairSource.ANSWERED_NO, c, None, None, t[3], ""),
        (first, ChairSource.NOT_WILLING, a, b, None, t[4], log[5][6]),
    ]
    assert log[0][6].startswith("never chaired; joined ")
    assert log[5][6].startswith("never chaired; joined ")


def test_meeting_update_to_the_same_instant_in_another_zone_is_one_visible_change():
    community, manager, _ = community_with(1, zone="America/Vancouver")
    meeting = meetings_of(series_make(community, manager))[1]  # 10 Feb 2026, 12:00 Vancouver

    services.meeting_update(
        actor=manager, meeting=meeting, timezone_name="America/Regina", start_time=time(14), now=NOW
    )

    fresh = _reload(meeting)
    assert fresh.starts_at == meeting.starts_at  # 20:00 UTC either way
    assert (fresh.timezone, fresh.sequence) == ("America/Regina", 1)
