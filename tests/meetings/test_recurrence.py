"""meetings.recurrence: RRULE text on a zoneinfo start, against dates and wall-clock times
worked out by hand (2026: clocks go forward on Sunday 8 March and back on Sunday 1 November
in Vancouver and St. John's; Regina keeps UTC-6 all year)."""

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest

from meetings import recurrence
from meetings.recurrence import RecurrenceError, RuleChoice
from tests.meetings.helpers import SECOND_TUESDAYS_2026

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
M30 = timedelta(minutes=30)


def _within(rule, *, zone="America/Vancouver", first=date(2026, 1, 1), at=time(12), now=JAN_1):
    return recurrence.occurrences_within(
        rule=rule, first_date=first, start_time=at, zone=zone, now=now, months=12
    )


# Daylight saving ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "winter", "summer"),
    [
        ("America/Vancouver", -8 * H, -7 * H),
        ("America/St_Johns", -3 * H - M30, -2 * H - M30),
        ("America/Regina", -6 * H, -6 * H),
    ],
)
def test_second_tuesday_noon_stays_noon_across_daylight_saving(zone, winter, summer):
    found = _within("FREQ=MONTHLY;BYDAY=2TU", zone=zone)

    assert [m.date() for m in found] == SECOND_TUESDAYS_2026
    assert {(m.hour, m.minute) for m in found} == {(12, 0)}
    assert all(m.tzinfo.key == zone for m in found)
    # January, February, November, December in standard time; March to October in summer time.
    expected = [winter, winter] + [summer] * 8 + [winter, winter]
    assert [m.utcoffset() for m in found] == expected
    assert [m.astimezone(UTC).time() for m in found] == [
        (datetime.combine(date(2026, 1, 1), time(12)) - offset).time() for offset in expected
    ]


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        ("America/Vancouver", -8 * H, -7 * H),
        ("America/St_Johns", -3 * H - M30, -2 * H - M30),
        ("America/Regina", -6 * H, -6 * H),
    ],
)
def test_offsets_change_on_8_march_and_1_november(zone, before, after):
    def days(first, count):
        return recurrence.occurrences(
            rule=f"FREQ=DAILY;COUNT={count}",
            first_date=first,
            start_time=time(12),
            zone=zone,
            after=JAN_1,
            before=datetime(2027, 1, 1, tzinfo=UTC),
        )

    spring = days(date(2026, 3, 6), 4)  # Fri 6, Sat 7, Sun 8, Mon 9 March
    autumn = days(date(2026, 10, 30), 4)  # Fri 30, Sat 31 October, Sun 1, Mon 2 November

    assert [m.utcoffset() for m in spring] == [before, before, after, after]
    assert [m.utcoffset() for m in autumn] == [after, after, before, before]
    assert {(m.hour, m.minute) for m in spring + autumn} == {(12, 0)}


def test_st_johns_half_hour_zone_gives_utc_half_hours():
    found = _within("FREQ=MONTHLY;BYDAY=2TU", zone="America/St_Johns")

    assert found[0].astimezone(UTC) == datetime(2026, 1, 13, 15, 30, tzinfo=UTC)
    assert found[2].astimezone(UTC) == datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    assert found[10].astimezone(UTC) == datetime(2026, 11, 10, 15, 30, tzinfo=UTC)


# The rules the form offers -------------------------------------------------------------


def test_monthly_on_the_15th():
    found = _within("FREQ=MONTHLY;BYMONTHDAY=15", at=time(9, 30), zone="America/St_Johns")

    assert [m.date() for m in found] == [date(2026, month, 15) for month in range(1, 13)]
    assert {(m.hour, m.minute) for m in found} == {(9, 30)}


def test_every_two_weeks_on_thursday_from_the_first_date():
    found = _within("FREQ=WEEKLY;INTERVAL=2;BYDAY=TH", first=date(2026, 1, 1))

    assert [m.date() for m in found[:5]] == [
        date(2026, 1, 1),
        date(2026, 1, 15),
        date(2026, 1, 29),
        date(2026, 2, 12),
        date(2026, 2, 26),
    ]
    assert len(found) == 27  # 1 Jan to 31 Dec 2026, every 14 days
    assert {m.weekday() for m in found} == {3}
    assert {(b.date() - a.date()).days for a, b in itertools.pairwise(found)} == {14}
    assert {(m.hour, m.minute) for m in found} == {(12, 0)}


def test_every_two_weeks_counts_from_the_first_date_not_from_now():
    # First date Thursday 8 January: the meetings fall on 8, 22 January..., never the 15th.
    found = _within(
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
        first=date(2026, 1, 8),
        now=datetime(2026, 1, 12, tzinfo=UTC),
    )

    assert [m.date() for m in found[:3]] == [date(2026, 1, 22), date(2026, 2, 5), date(2026, 2, 19)]


def test_last_friday_of_the_month():
    found = _within("FREQ=MONTHLY;BYDAY=-1FR", zone="America/Regina")

    assert [m.date() for m in found] == [
        date(2026, 1, 30),
        date(2026, 2, 27),
        date(2026, 3, 27),
        date(2026, 4, 24),
        date(2026, 5, 29),
        date(2026, 6, 26),
        date(2026, 7, 31),
        date(2026, 8, 28),
        date(2026, 9, 25),
        date(2026, 10, 30),
        date(2026, 11, 27),
        date(2026, 12, 25),
    ]
    assert {m.utcoffset() for m in found} == {-6 * H}


def test_monthly_day_31_skips_the_months_without_one():
    found = _within("FREQ=MONTHLY;BYMONTHDAY=31")

    assert [m.date() for m in found] == [
        date(2026, 1, 31),
        date(2026, 3, 31),
        date(2026, 5, 31),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 10, 31),
        date(2026, 12, 31),
    ]


def test_rule_text_is_case_insensitive_and_takes_an_rrule_prefix():
    assert [m.date() for m in _within("freq=monthly;byday=2tu")] == SECOND_TUESDAYS_2026
    assert [m.date() for m in _within("RRULE:FREQ=MONTHLY;BYDAY=2TU")] == SECOND_TUESDAYS_2026


# The window ----------------------------------------------------------------------------


def test_occurrences_start_at_now_and_stop_before_the_end():
    zone = "America/Vancouver"
    third = datetime(2026, 3, 10, 12, tzinfo=recurrence.zone_get(zone))

    found = recurrence.occurrences(
        rule="FREQ=MONTHLY;BYDAY=2TU",
        first_date=date(2026, 1, 1),
        start_time=time(12),
        zone=zone,
        after=third,  # included: at or after
        before=datetime(2026, 5, 12, 19, tzinfo=UTC),  # 12:00 PDT on 12 May: left out
    )

    assert [m.date() for m in found] == [date(2026, 3, 10), date(2026, 4, 14)]


def test_occurrences_never_before_the_first_date():
    found = _within("FREQ=MONTHLY;BYDAY=2TU", first=date(2026, 6, 1))

    assert found[0].date() == date(2026, 6, 9)
    assert len(found) == 7


def test_horizon_is_twelve_months_from_now():
    found = _within("FREQ=MONTHLY;BYDAY=2TU", now=datetime(2026, 3, 10, 21, tzinfo=UTC))

    # 10 March 12:00 PDT (19:00 UTC) has passed; the horizon ends 10 March 2027 21:00 UTC,
    # after 9 March 2027 12:00 PST (20:00 UTC).
    assert found[0].date() == date(2026, 4, 14)
    assert found[-1].date() == date(2027, 3, 9)
    assert len(found) == 12
    assert recurrence.horizon_end(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, tzinfo=UTC
    )


# Local times that do not exist or happen twice -----------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "at", "problem"),
    [
        ("America/Vancouver", date(2026, 3, 8), time(2, 30), "missing"),
        ("America/Vancouver", date(2026, 11, 1), time(1, 30), "repeated"),
        ("America/St_Johns", date(2026, 3, 8), time(2, 30), "missing"),
        ("America/St_Johns", date(2026, 11, 1), time(1, 30), "repeated"),
        ("America/Vancouver", date(2026, 3, 8), time(3, 0), None),
        ("America/Vancouver", date(2026, 3, 8), time(1, 59), None),
        ("America/Vancouver", date(2026, 11, 1), time(2, 0), None),
        ("America/Vancouver", date(2026, 11, 1), time(0, 59), None),
        ("America/Regina", date(2026, 3, 8), time(2, 30), None),
        ("America/Regina", date(2026, 11, 1), time(1, 30), None),
    ],
)
def test_local_time_problem(zone, day, at, problem):
    assert recurrence.local_time_problem(recurrence.local_start(day, at, zone)) == problem


def test_missing_time_error_says_which_and_when():
    error = recurrence.local_time_error(
        recurrence.local_start(date(2026, 3, 8), time(2, 30), "America/Vancouver")
    )

    assert error.code == "time_missing"
    assert error.field == "start_time"
    assert error.message == (
        "2:30 a.m. does not exist on March 8, 2026 in America/Vancouver: the clocks go "
        "forward that night. Choose another time."
    )


def test_repeated_time_error_says_which_and_when():
    error = recurrence.local_time_error(
        recurrence.local_start(date(2026, 11, 1), time(1, 30), "America/Vancouver")
    )

    assert error.code == "time_repeated"
    assert error.field == "start_time"
    assert error.message == (
        "1:30 a.m. happens twice on Nov. 1, 2026 in America/Vancouver: the clocks go back "
        "that night. Choose another time."
    )


def test_a_weekly_rule_refused_at_its_first_missing_time():
    with pytest.raises(RecurrenceError) as caught:
        _within("FREQ=WEEKLY;BYDAY=SU", at=time(2, 30))

    assert caught.value.code == "time_missing"
    assert "March 8, 2026" in caught.value.message


def test_a_weekly_rule_refused_at_its_first_repeated_time():
    with pytest.raises(RecurrenceError) as caught:
        _within("FREQ=WEEKLY;BYDAY=SU", at=time(1, 30), now=datetime(2026, 6, 1, tzinfo=UTC))

    assert caught.value.code == "time_repeated"
    assert "Nov. 1, 2026" in caught.value.message


def test_the_same_weekly_rule_is_fine_in_regina():
    found = _within("FREQ=WEEKLY;BYDAY=SU", at=time(2, 30), zone="America/Regina")

    assert len(found) == 52
    assert {(m.hour, m.minute) for m in found} == {(2, 30)}


# Refused rules and zones ---------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYHOUR=9,10",
        "FREQ=DAILY;BYMINUTE=0,30",
        "FREQ=WEEKLY;BYDAY=TU;BYHOUR=9,15",
        "FREQ=HOURLY",
        "FREQ=HOURLY;INTERVAL=48",
        "FREQ=MINUTELY",
        "FREQ=SECONDLY",
    ],
)
def test_more_than_one_a_day_is_refused(rule):
    with pytest.raises(RecurrenceError) as caught:
        _within(rule)

    assert caught.value.code == "more_than_daily"
    assert caught.value.field == "rrule"
    assert caught.value.message == "This rule gives more than one meeting a day."


def test_daily_is_allowed():
    assert len(_within("FREQ=DAILY")) == 365


@pytest.mark.parametrize(
    "rule",
    ["", "nonsense", "FREQ=FORTNIGHTLY", "FREQ=MONTHLY;INTERVAL=abc", "FREQ=MONTHLY;BYDAY=9ZZ"],
)
def test_unreadable_rule_is_refused(rule):
    with pytest.raises(RecurrenceError) as caught:
        _within(rule)

    assert caught.value.code == "bad_rule"
    assert caught.value.field == "rrule"
    assert caught.value.message == "This recurrence rule cannot be read."


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;COUNT=2",  # both in 2025
        "FREQ=MONTHLY;UNTIL=20251231T235959Z",
        "FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYMONTHDAY=5",  # 5 January 2025, then 2027
    ],
)
def test_a_rule_with_no_date_within_the_horizon_is_refused(rule):
    with pytest.raises(RecurrenceError) as caught:
        _within(rule, first=date(2025, 1, 2), now=datetime(2026, 1, 3, tzinfo=UTC))

    assert caught.value.code == "no_dates"
    assert caught.value.field == "rrule"
    assert caught.value.message == "This rule gives no meeting in the next 12 months."


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "America", "america/vancouver", "../UTC"])
def test_unknown_zone_is_refused(zone):
    with pytest.raises(RecurrenceError) as caught:
        recurrence.zone_get(zone)

    assert caught.value.code == "unknown_zone"
    assert caught.value.field == "timezone"
    assert caught.value.message == f"“{zone}” is not a time zone we know, e.g. America/Toronto."


def test_unknown_zone_refused_when_expanding():
    with pytest.raises(RecurrenceError) as caught:
        _within("FREQ=MONTHLY;BYDAY=2TU", zone="Mars/Olympus")

    assert caught.value.code == "unknown_zone"


# What the form offers, as text and back ------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "text", "words"),
    [
        (
            RuleChoice(recurrence.MONTHLY_WEEKDAY, weekday=1, ordinal=2),
            "FREQ=MONTHLY;BYDAY=2TU",
            "monthly on the second Tuesday",
        ),
        (
            RuleChoice(recurrence.MONTHLY_WEEKDAY, weekday=4, ordinal=-1),
            "FREQ=MONTHLY;BYDAY=-1FR",
            "monthly on the last Friday",
        ),
        (
            RuleChoice(recurrence.MONTHLY_DAY, monthday=15),
            "FREQ=MONTHLY;BYMONTHDAY=15",
            "monthly on day 15",
        ),
        (
            RuleChoice(recurrence.WEEKLY_KIND, weekday=3, interval=2),
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
            "every 2 weeks on Thursday",
        ),
        (
            RuleChoice(recurrence.WEEKLY_KIND, weekday=0, interval=1),
            "FREQ=WEEKLY;BYDAY=MO",
            "weekly on Monday",
        ),
    ],
)
def test_rule_text_choice_and_words_round_trip(choice, text, words):
    assert recurrence.rule_text(choice) == text
    assert recurrence.rule_choice(text) == choice
    assert recurrence.rule_describe(text) == words


@pytest.mark.parametrize(
    "text", ["FREQ=DAILY;BYHOUR=9", "FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU", "FREQ=YEARLY", ""]
)
def test_rules_the_form_cannot_make_are_described_as_text(text):
    assert recurrence.rule_choice(text) is None
    assert recurrence.rule_describe(text) == text


def test_rule_text_refuses_an_unknown_kind():
    with pytest.raises(RecurrenceError) as caught:
        recurrence.rule_text(RuleChoice("yearly"))

    assert (caught.value.code, caught.value.field) == ("unknown_kind", "kind")
