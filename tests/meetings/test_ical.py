"""meetings.ical: every calendar it makes is read strictly by three independent parsers
(icalendar, vobject, ical) and expanded by recurring-ical-events, against local dates and
times worked out by hand; and the RFC 5546 / ICAL.md properties none of them knows are
asserted on the bytes themselves. Pure: no database.

2026, worked out by hand: Vancouver and St. John's go forward on Sunday 8 March (02:00 ->
03:00) and back on Sunday 1 November (02:00 -> 01:00); Regina keeps UTC-6 all year; Paris
goes forward on 29 March (02:00 -> 03:00) and back on 25 October (03:00 -> 02:00); Lord Howe
goes back half an hour on 5 April (02:00 -> 01:30) and forward on 4 October (02:00 ->
02:30); Casablanca is at +01 except during Ramadan, at +00 from 15 February 03:00 (-> 02:00)
to 22 March 02:00 (-> 03:00), which its VTIMEZONE (made from the zone's POSIX rule, +01 all
year) cannot say, so those meetings are written in UTC."""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import vobject
from ical.calendar_stream import IcsCalendarStream
from ical.timezone import IcsTimezoneInfo

from meetings import ical
from meetings.ical import CANCEL, REQUEST, MeetingEvent, Person
from tests.meetings.helpers import SECOND_TUESDAYS_2026

HOST = "meet.example.org"
ORGANIZER = Person("chair@example.org", "Élodie Lefèvre")
ATTENDEE = Person("zoe@example.org", "Zoë Côté-Brûlé")
STAMP = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
VIDEO = "https://video.example.org/cop/monthly-call?room=r%C3%A9union&pwd=" + "x" * 60
TITLE = "Réunion mensuelle — ordre du jour, café et échanges sur les pratiques éprouvées"
DESCRIPTION = "Ordre du jour :\n1. Accueil — café ;\n2. Révision, suivi\n\\ fin"
FEED_UID = f"feed-community-3@{HOST}"
H = timedelta(hours=1)
M30 = timedelta(minutes=30)

VANCOUVER = "America/Vancouver"
ST_JOHNS = "America/St_Johns"
REGINA = "America/Regina"
PARIS = "Europe/Paris"
LORD_HOWE = "Australia/Lord_Howe"
CASABLANCA = "Africa/Casablanca"
ZONES = [VANCOUVER, ST_JOHNS, REGINA, PARIS, LORD_HOWE, CASABLANCA]
DST_ZONES = {VANCOUVER, ST_JOHNS, PARIS, LORD_HOWE}  # Casablanca's POSIX rule has no DST

# Per zone: its usual offset, the other one, and the months whose second Tuesday has the other.
MONTHLY_OFFSETS = {
    VANCOUVER: (-8 * H, -7 * H, range(3, 11)),
    ST_JOHNS: (-3 * H - M30, -2 * H - M30, range(3, 11)),
    REGINA: (-6 * H, -6 * H, ()),
    PARIS: (1 * H, 2 * H, range(4, 11)),
    LORD_HOWE: (11 * H, 10 * H + M30, range(4, 10)),
    CASABLANCA: (1 * H, timedelta(0), (3,)),  # Ramadan 2026 holds 10 March
}


def local(*args) -> datetime:
    return datetime(*args)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """A meeting of an hour: its wall-clock start and end in `zone`, and the UTC instants."""

    zone: str
    start: datetime
    end: datetime
    start_utc: datetime
    end_utc: datetime
    fold: int = 0

    @property
    def id(self) -> str:
        fold = f"-fold{self.fold}" if self.fold else ""
        return f"{self.zone.split('/')[1]}-{self.start:%Y%m%dT%H%M}{fold}"


def _monthly(zone: str, day: date) -> Case:
    usual, other, months = MONTHLY_OFFSETS[zone]
    offset = other if day.month in months else usual
    start = datetime(day.year, day.month, day.day, 12)
    start_utc = (start - offset).replace(tzinfo=UTC)
    return Case(zone, start, start + H, start_utc, start_utc + H)


MONTHLY_CASES = [_monthly(zone, day) for zone in ZONES for day in SECOND_TUESDAYS_2026]

# The days clocks change: zone, local day, start and end on the wall clock (an hour apart
# in elapsed time), fold (1: the second of a repeated wall-clock time), and the UTC instants.
SWITCH_DAYS = """
# Vancouver: PST (-8) -> PDT (-7) at 2026-03-08 10:00Z, back at 2026-11-01 09:00Z.
Vancouver  2026-03-08 01:30 03:30 0  2026-03-08T09:30 2026-03-08T10:30
Vancouver  2026-03-08 03:00 04:00 0  2026-03-08T10:00 2026-03-08T11:00
Vancouver  2026-03-08 12:00 13:00 0  2026-03-08T19:00 2026-03-08T20:00
Vancouver  2026-11-01 00:30 01:30 0  2026-11-01T07:30 2026-11-01T08:30
Vancouver  2026-11-01 01:30 01:30 0  2026-11-01T08:30 2026-11-01T09:30
Vancouver  2026-11-01 01:30 02:30 1  2026-11-01T09:30 2026-11-01T10:30
Vancouver  2026-11-01 03:00 04:00 0  2026-11-01T11:00 2026-11-01T12:00
Vancouver  2026-11-01 12:00 13:00 0  2026-11-01T20:00 2026-11-01T21:00
# St. John's: NST (-3:30) -> NDT (-2:30) at 2026-03-08 05:30Z, back at 2026-11-01 04:30Z.
St_Johns   2026-03-08 01:30 03:30 0  2026-03-08T05:00 2026-03-08T06:00
St_Johns   2026-03-08 03:00 04:00 0  2026-03-08T05:30 2026-03-08T06:30
St_Johns   2026-03-08 12:00 13:00 0  2026-03-08T14:30 2026-03-08T15:30
St_Johns   2026-11-01 01:30 01:30 0  2026-11-01T04:00 2026-11-01T05:00
St_Johns   2026-11-01 01:30 02:30 1  2026-11-01T05:00 2026-11-01T06:00
St_Johns   2026-11-01 03:00 04:00 0  2026-11-01T06:30 2026-11-01T07:30
St_Johns   2026-11-01 12:00 13:00 0  2026-11-01T15:30 2026-11-01T16:30
# Regina: CST (-6) both days; 01:30 is not ambiguous, so fold=1 names the same instant.
Regina     2026-03-08 01:30 02:30 0  2026-03-08T07:30 2026-03-08T08:30
Regina     2026-03-08 03:00 04:00 0  2026-03-08T09:00 2026-03-08T10:00
Regina     2026-03-08 12:00 13:00 0  2026-03-08T18:00 2026-03-08T19:00
Regina     2026-11-01 01:30 02:30 0  2026-11-01T07:30 2026-11-01T08:30
Regina     2026-11-01 01:30 02:30 1  2026-11-01T07:30 2026-11-01T08:30
Regina     2026-11-01 03:00 04:00 0  2026-11-01T09:00 2026-11-01T10:00
Regina     2026-11-01 12:00 13:00 0  2026-11-01T18:00 2026-11-01T19:00
# Paris: CET (+1) -> CEST (+2) at 2026-03-29 01:00Z, back at 2026-10-25 01:00Z.
Paris      2026-03-29 01:30 03:30 0  2026-03-29T00:30 2026-03-29T01:30
Paris      2026-03-29 03:00 04:00 0  2026-03-29T01:00 2026-03-29T02:00
Paris      2026-03-29 12:00 13:00 0  2026-03-29T10:00 2026-03-29T11:00
Paris      2026-10-25 01:30 02:30 0  2026-10-24T23:30 2026-10-25T00:30
Paris      2026-10-25 02:30 02:30 0  2026-10-25T00:30 2026-10-25T01:30
Paris      2026-10-25 02:30 03:30 1  2026-10-25T01:30 2026-10-25T02:30
Paris      2026-10-25 03:00 04:00 0  2026-10-25T02:00 2026-10-25T03:00
Paris      2026-10-25 12:00 13:00 0  2026-10-25T11:00 2026-10-25T12:00
# Lord Howe: +11 -> +10:30 at 2026-04-04 15:00Z, back to +11 at 2026-10-03 15:30Z.
Lord_Howe  2026-04-05 01:45 02:15 0  2026-04-04T14:45 2026-04-04T15:45
Lord_Howe  2026-04-05 01:45 02:45 1  2026-04-04T15:15 2026-04-04T16:15
Lord_Howe  2026-04-05 12:00 13:00 0  2026-04-05T01:30 2026-04-05T02:30
Lord_Howe  2026-10-04 01:30 03:00 0  2026-10-03T15:00 2026-10-03T16:00
Lord_Howe  2026-10-04 03:00 04:00 0  2026-10-03T16:00 2026-10-03T17:00
Lord_Howe  2026-10-04 12:00 13:00 0  2026-10-04T01:00 2026-10-04T02:00
# Casablanca: +01, but +00 through Ramadan (2026-02-15 02:00Z to 2026-03-22 02:00Z).
Casablanca 2026-02-13 12:00 13:00 0  2026-02-13T11:00 2026-02-13T12:00
Casablanca 2026-02-18 12:00 13:00 0  2026-02-18T12:00 2026-02-18T13:00
Casablanca 2026-03-20 12:00 13:00 0  2026-03-20T12:00 2026-03-20T13:00
Casablanca 2026-03-24 12:00 13:00 0  2026-03-24T11:00 2026-03-24T12:00
"""
BY_CITY = {zone.split("/")[1]: zone for zone in ZONES}


def _switch_day_cases() -> list[Case]:
    cases = []
    for row in SWITCH_DAYS.strip().splitlines():
        if row.startswith("#"):
            continue
        city, day, start, end, fold, start_utc, end_utc = row.split()
        cases.append(
            Case(
                BY_CITY[city],
                datetime.fromisoformat(f"{day}T{start}"),
                datetime.fromisoformat(f"{day}T{end}"),
                datetime.fromisoformat(start_utc).replace(tzinfo=UTC),
                datetime.fromisoformat(end_utc).replace(tzinfo=UTC),
                int(fold),
            )
        )
    return cases


SWITCH_DAY_CASES = _switch_day_cases()
CASES = MONTHLY_CASES + SWITCH_DAY_CASES


def switch_day(zone: str, start: datetime, fold: int = 0) -> Case:
    (case,) = (c for c in SWITCH_DAY_CASES if (c.zone, c.start, c.fold) == (zone, start, fold))
    return case


JANUARY = {zone: _monthly(zone, date(2026, 1, 13)) for zone in ZONES}
VANCOUVER_JULY = _monthly(VANCOUVER, date(2026, 7, 14))
ST_JOHNS_MARCH = _monthly(ST_JOHNS, date(2026, 3, 10))
CASABLANCA_RAMADAN = _monthly(CASABLANCA, date(2026, 3, 10))
SECOND_0130 = switch_day(VANCOUVER, local(2026, 11, 1, 1, 30), fold=1)
IN_RAMADAN = {local(2026, 2, 18, 12), local(2026, 3, 10, 12), local(2026, 3, 20, 12)}


def event_of(case: Case, **fields) -> MeetingEvent:
    tz = ZoneInfo(case.zone)
    starts_at = case.start.replace(tzinfo=tz, fold=case.fold)
    ends_at = (starts_at.astimezone(UTC) + H).astimezone(tz)
    values = {
        "id": 41,
        "title": TITLE,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "zone": case.zone,
        "sequence": 0,
        "cancelled": False,
        "stamp": STAMP,
        "organizer": ORGANIZER,
        "video_url": VIDEO,
        "url": f"https://{HOST}/communities/3/meetings/41/",
        "description": DESCRIPTION,
    }
    return MeetingEvent(**(values | fields))


def invitation(event: MeetingEvent, method: str = REQUEST, attendee: Person = ATTENDEE) -> bytes:
    return ical.serialize(
        ical.invitation_calendar(event, host=HOST, attendee=attendee, method=method)
    )


def feed(events, name: str = "Communauté de pratique — réunions") -> bytes:
    return ical.serialize(ical.feed_calendar(events, host=HOST, name=name, uid=FEED_UID))


# The bytes, read by hand -----------------------------------------------------------------


@dataclass
class Component:
    name: str
    props: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    children: list["Component"] = field(default_factory=list)

    def all(self, name: str) -> list[tuple[dict[str, str], str]]:
        return [(params, value) for prop, params, value in self.props if prop == name]

    def one(self, name: str) -> tuple[dict[str, str], str]:
        found = self.all(name)
        assert len(found) == 1, f"{self.name} has {len(found)} {name}"
        return found[0]

    def value(self, name: str) -> str:
        return self.one(name)[1]

    def sub(self, name: str) -> list["Component"]:
        return [child for child in self.children if child.name == name]

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


def _split(line: str) -> tuple[str, dict[str, str], str]:
    """NAME;PARAM=VALUE;PARAM="QUOTED":VALUE (RFC 5545 §3.1), quotes kept out."""
    quoted = False
    parts, current = [], ""
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
            current += char
        elif char in ";:" and not quoted:
            parts.append(current)
            current = ""
            if char == ":":
                value = line[index + 1 :]
                break
        else:
            current += char
    else:
        raise AssertionError(f"no value in {line!r}")
    name, *params = parts
    split = dict(param.split("=", 1) for param in params)
    return name, {key: val.strip('"') for key, val in split.items()}, value


def physical_lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b""), "a bare LF"
    return data[:-2].split(b"\r\n")


def content_lines(data: bytes) -> list[str]:
    return re.sub(r"\r\n[ \t]", "", data.decode()).split("\r\n")[:-1]


def tree(data: bytes) -> Component:
    stack: list[Component] = []
    root = None
    for line in content_lines(data):
        name, params, value = _split(line)
        if name == "BEGIN":
            component = Component(value)
            if stack:
                stack[-1].children.append(component)
            else:
                assert root is None, "more than one VCALENDAR"
                root = component
            stack.append(component)
        elif name == "END":
            assert stack.pop().name == value
        else:
            stack[-1].props.append((name, params, value))
    assert not stack
    assert root is not None
    assert root.name == "VCALENDAR"
    return root


DATE_TIME = re.compile(r"\d{8}T\d{6}Z?")


def assert_well_formed(data: bytes) -> Component:
    """What every calendar we make must be, whatever it is for (ICAL.md)."""
    for line in physical_lines(data):
        assert len(line) <= 75, f"unfolded line of {len(line)} octets: {line!r}"
        line.decode()  # a fold never splits a UTF-8 character
    cal = tree(data)
    assert cal.value("VERSION") == "2.0"
    assert cal.value("PRODID") == ical.PRODID
    used = set()
    for vevent in cal.sub("VEVENT"):
        for prop in ("DTSTART", "DTEND"):
            params, value = vevent.one(prop)
            assert DATE_TIME.fullmatch(value), f"{prop} is not a DATE-TIME: {value}"
            assert "VALUE" not in params
            # Never a floating time: a TZID, or UTC (and never both).
            assert ("TZID" in params) != value.endswith("Z"), f"{prop};{params}:{value}"
            if "TZID" in params:
                used.add(params["TZID"])
        params, value = vevent.one("DTSTAMP")
        assert not params
        assert DATE_TIME.fullmatch(value)
        assert value.endswith("Z")
        assert not vevent.all("DURATION")
        assert not vevent.all("RRULE")
        assert not vevent.all("RECURRENCE-ID")
    zones = [tz.value("TZID") for tz in cal.sub("VTIMEZONE")]
    assert len(zones) == len(set(zones))
    assert set(zones) == used, "each TZID used has its VTIMEZONE, and only those"
    for tz in cal.sub("VTIMEZONE"):
        assert_vtimezone_shape(tz)
    return cal


def assert_vtimezone_shape(tz: Component) -> None:
    zone = tz.value("TZID")
    assert {child.name for child in tz.children} <= {"STANDARD", "DAYLIGHT"}
    assert len(tz.sub("STANDARD")) == 1
    assert len(tz.sub("DAYLIGHT")) == (1 if zone in DST_ZONES else 0)
    for block in tz.children:
        params, start = block.one("DTSTART")
        assert not params
        assert re.fullmatch(r"\d{8}T\d{6}", start), "an observance starts in local time"
        assert re.fullmatch(r"[+-]\d{4}", block.value("TZOFFSETFROM"))
        assert re.fullmatch(r"[+-]\d{4}", block.value("TZOFFSETTO"))
        assert not block.all("RDATE")
        if zone in DST_ZONES:
            assert block.value("RRULE").startswith("FREQ=YEARLY;")
        else:
            assert not block.all("RRULE")
            assert block.value("TZOFFSETFROM") == block.value("TZOFFSETTO")


# The bytes, read by three parsers ----------------------------------------------------------


def read_everywhere(data: bytes) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each event's (start, end) as each parser reads it, after strict checks."""
    text = data.decode()
    read = {}

    cal = icalendar.Calendar.from_ical(data)
    for component in cal.walk():
        assert component.errors == [], component.errors
    assert cal.get_missing_tzids() == set()
    assert cal.to_ical() == data
    read["icalendar"] = [(e.start, e.end) for e in cal.walk("VEVENT")]

    card = vobject.readOne(text)
    card.validate(raiseException=True)
    read["vobject"] = [(e.dtstart.value, e.dtend.value) for e in card.contents.get("vevent", [])]

    strict = IcsCalendarStream.calendar_from_ics(text)
    read["ical"] = [(e.dtstart, e.dtend) for e in strict.events]
    # ical's own reading of our VTIMEZONE blocks (above, it takes the IANA zone by name):
    # what a client that knows only the VTIMEZONE (Outlook) makes of the wall-clock times.
    # Not for a fixed-offset zone: ical 14 starts an observance only at its RRULE or RDATE
    # dates, so a lone STANDARD with a DTSTART (valid, RFC 5545 §3.6.5; ical's own
    # Timezone.from_tzif("America/Regina") writes the same) reads as +00 there.
    own = {
        tz.tz_id: IcsTimezoneInfo.from_timezone(tz)
        for tz in strict.timezones
        if any(block.rrule for block in tz.standard + tz.daylight)
    }

    def by_vtimezone(value: datetime) -> datetime:
        if str(value.tzinfo) not in own:
            return value
        return value.replace(tzinfo=own[str(value.tzinfo)], fold=0)

    read["ical-vtimezone"] = [(by_vtimezone(s), by_vtimezone(e)) for s, e in read["ical"]]

    occurrences = recurring_ical_events.of(cal).between(date(2025, 1, 1), date(2028, 1, 1))
    read["recurring-ical-events"] = sorted(
        ((o["DTSTART"].dt, o["DTEND"].dt) for o in occurrences), key=lambda se: se[0]
    )
    return read


def assert_at(value: datetime, zone: str, wall: datetime, instant: datetime, who: str):
    assert isinstance(value, datetime), who
    assert value.utcoffset() is not None, f"{who}: a floating time"
    assert value.astimezone(UTC) == instant, f"{who}: {value} is not {instant}"
    assert value.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == wall, who


def assert_read_as(data: bytes, expected: list[Case]) -> None:
    for who, pairs in read_everywhere(data).items():
        assert len(pairs) == len(expected), who
        order = sorted(expected, key=lambda case: case.start_utc)
        if who != "recurring-ical-events":
            order = expected
        for (start, end), case in zip(pairs, order, strict=True):
            assert_at(start, case.zone, case.start, case.start_utc, f"{who} DTSTART")
            assert_at(end, case.zone, case.end, case.end_utc, f"{who} DTEND")


# Times, across daylight-saving changes ---------------------------------------------------


def test_the_cases_agree_with_the_tz_database():
    """The hand-worked instants are those zoneinfo gives (so the table is not a typo)."""
    for case in CASES:
        event = event_of(case)
        assert event.starts_at.astimezone(UTC) == case.start_utc, case.id
        assert event.ends_at.astimezone(UTC) == case.end_utc, case.id
        assert event.ends_at.astimezone(ZoneInfo(case.zone)).replace(tzinfo=None) == case.end


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_an_invitation_reads_back_at_its_local_times_everywhere(case):
    data = invitation(event_of(case))
    assert_well_formed(data)
    assert_read_as(data, [case])


@pytest.mark.parametrize("case", SWITCH_DAY_CASES, ids=lambda case: case.id)
def test_a_one_meeting_download_reads_back_at_its_local_times_everywhere(case):
    """(The second Tuesdays, in feeds: test_a_years_feed_has_each_second_tuesday_at_noon_local.)"""
    data = feed([event_of(case)])
    assert_well_formed(data)
    assert_read_as(data, [case])


@pytest.mark.parametrize("zone", ZONES)
def test_a_years_feed_has_each_second_tuesday_at_noon_local(zone):
    cases = [case for case in MONTHLY_CASES if case.zone == zone]
    events = [event_of(case, id=100 + i) for i, case in enumerate(cases)]
    data = feed(events)
    assert_well_formed(data)
    assert_read_as(data, cases)
    cal = icalendar.Calendar.from_ical(data)
    for day in SECOND_TUESDAYS_2026:
        month = date(day.year, day.month, 1)
        following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        (found,) = recurring_ical_events.of(cal).between(month, following)
        start = found["DTSTART"].dt.astimezone(ZoneInfo(zone))
        assert (start.date(), start.hour, start.minute) == (day, 12, 0)
        assert found["DTEND"].dt - found["DTSTART"].dt == H


def test_one_feed_with_every_zone_and_every_switch_day():
    events = [event_of(case, id=200 + i) for i, case in enumerate(CASES)]
    data = feed(events)
    cal = assert_well_formed(data)
    assert len(cal.sub("VEVENT")) == len(CASES)
    assert_read_as(data, CASES)


@pytest.mark.parametrize(
    "case",
    [case for case in CASES if case.zone == CASABLANCA],
    ids=lambda case: case.id,
)
def test_casablanca_is_in_utc_during_ramadan_and_in_its_zone_otherwise(case):
    cal = tree(invitation(event_of(case)))
    (vevent,) = cal.sub("VEVENT")
    params, value = vevent.one("DTSTART")
    if case.start in IN_RAMADAN:
        assert value == f"{case.start_utc:%Y%m%dT%H%M%S}Z"
        assert vevent.value("DTEND") == f"{case.end_utc:%Y%m%dT%H%M%S}Z"
        assert not cal.sub("VTIMEZONE")
    else:
        assert params == {"TZID": CASABLANCA}
        assert value == f"{case.start:%Y%m%dT%H%M%S}"
        (tz,) = cal.sub("VTIMEZONE")
        assert tz.sub("STANDARD")[0].value("TZOFFSETTO") == "+0100"


AMBIGUOUS = [case for case in SWITCH_DAY_CASES if case.fold == 1 and case.zone != REGINA]


@pytest.mark.parametrize("case", AMBIGUOUS, ids=lambda case: case.id)
def test_both_occurrences_of_a_repeated_wall_clock_time_keep_their_instant(case):
    """A wall-clock time with a TZID means its first occurrence (RFC 5545 §3.3.5): the second
    one (fold=1), and an end that falls on it, can only be written in UTC."""
    shift = 30 if case.zone == LORD_HOWE else 60
    earlier, later = event_of(switch_day(case.zone, case.start)), event_of(case)
    assert (later.starts_at.astimezone(UTC) - earlier.starts_at.astimezone(UTC)) == timedelta(
        minutes=shift
    )
    for event in (earlier, later):
        data = invitation(event)
        assert_well_formed(data)
        for who, [(start, end)] in read_everywhere(data).items():
            assert start.astimezone(UTC) == event.starts_at.astimezone(UTC), who
            assert end.astimezone(UTC) == event.ends_at.astimezone(UTC), who
    vevent = tree(invitation(later)).sub("VEVENT")[0]
    assert vevent.value("DTSTART") == f"{case.start_utc:%Y%m%dT%H%M%S}Z"


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        (PARIS, local(2026, 10, 25, 1, 30)),  # ends at 02:30 CEST, the first 02:30
        (LORD_HOWE, local(2026, 4, 5, 1, 45)),  # the first 01:45, ends at 02:15
        (VANCOUVER, local(2026, 11, 1, 0, 30)),  # ends at 01:30 PDT, the first 01:30
    ],
)
def test_the_first_occurrence_of_a_repeated_time_keeps_its_zone(zone, start):
    case = switch_day(zone, start)
    cal = tree(invitation(event_of(case)))
    (vevent,) = cal.sub("VEVENT")
    assert vevent.one("DTSTART") == ({"TZID": zone}, f"{case.start:%Y%m%dT%H%M%S}")
    assert vevent.one("DTEND") == ({"TZID": zone}, f"{case.end:%Y%m%dT%H%M%S}")


def test_regina_fold_names_one_instant():
    plain, folded = (
        event_of(switch_day(REGINA, local(2026, 11, 1, 1, 30), fold)) for fold in (0, 1)
    )
    assert plain.starts_at.astimezone(UTC) == folded.starts_at.astimezone(UTC)
    assert invitation(plain) == invitation(folded)


def _times_2026(zone: str):
    """Noon every day of 2026, and every quarter of an hour on the days clocks change."""
    real = ZoneInfo(zone)
    day = date(2026, 1, 1)
    while day.year == 2026:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=real)
        midnight = datetime(day.year, day.month, day.day, tzinfo=real)
        following = midnight + timedelta(days=1)
        if midnight.utcoffset() != following.utcoffset():
            wall = datetime(day.year, day.month, day.day)
            while wall.date() == day:
                yield wall
                wall += timedelta(minutes=15)
        else:
            yield noon.replace(tzinfo=None)
        day += timedelta(days=1)


@pytest.mark.parametrize("zone", sorted(DST_ZONES | {REGINA}))
def test_each_vtimezone_says_the_tz_database_offset_all_2026(zone):
    """Read by dateutil (vobject's) and by ical's own code, each VTIMEZONE gives zoneinfo's
    offset for every wall-clock time (the first of a repeated one; none in a gap)."""
    data = feed([event_of(JANUARY[zone])])
    (tz,) = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    by_dateutil = tz.to_tz(lookup_tzid=False)
    (strict_tz,) = IcsCalendarStream.calendar_from_ics(data.decode()).timezones
    by_ical = IcsTimezoneInfo.from_timezone(strict_tz)
    real = ZoneInfo(zone)
    checked = 0
    for wall in _times_2026(zone):
        first = wall.replace(tzinfo=real)
        if first.astimezone(UTC).astimezone(real).replace(tzinfo=None) != wall:
            continue  # in a gap: no instant has this wall-clock time
        for reader in (by_dateutil, by_ical) if zone in DST_ZONES else (by_dateutil,):
            assert wall.replace(tzinfo=reader).utcoffset() == first.utcoffset(), (reader, wall)
        checked += 1
    assert checked >= 365


def test_casablancas_vtimezone_is_right_except_during_ramadan():
    data = feed([event_of(JANUARY[CASABLANCA])])
    (tz,) = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    reader = tz.to_tz(lookup_tzid=False)
    real = ZoneInfo(CASABLANCA)
    wrong = {
        wall.date()
        for wall in _times_2026(CASABLANCA)
        if wall.replace(tzinfo=reader).utcoffset() != wall.replace(tzinfo=real).utcoffset()
    }
    assert min(wrong) == date(2026, 2, 15)
    assert max(wrong) == date(2026, 3, 22)
    assert len(wrong) == 36


@pytest.mark.parametrize(
    ("zone", "daylight", "standard"),
    [
        (
            VANCOUVER,
            ("-0800", "-0700", "BYDAY=2SU;BYMONTH=3"),
            ("-0700", "-0800", "BYDAY=1SU;BYMONTH=11"),
        ),
        (
            ST_JOHNS,
            ("-0330", "-0230", "BYDAY=2SU;BYMONTH=3"),
            ("-0230", "-0330", "BYDAY=1SU;BYMONTH=11"),
        ),
        (
            PARIS,
            ("+0100", "+0200", "BYDAY=-1SU;BYMONTH=3"),
            ("+0200", "+0100", "BYDAY=-1SU;BYMONTH=10"),
        ),
        (
            LORD_HOWE,
            ("+1030", "+1100", "BYDAY=1SU;BYMONTH=10"),
            ("+1100", "+1030", "BYDAY=1SU;BYMONTH=4"),
        ),
        (REGINA, None, ("-0600", "-0600", None)),
        (CASABLANCA, None, ("+0100", "+0100", None)),
    ],
)
def test_vtimezone_blocks(zone, daylight, standard):
    tz = tree(b"BEGIN:VCALENDAR\r\n" + ical.vtimezone(zone).to_ical() + b"END:VCALENDAR\r\n")
    (vtimezone,) = tz.sub("VTIMEZONE")
    assert vtimezone.value("TZID") == zone
    for name, expected in (("DAYLIGHT", daylight), ("STANDARD", standard)):
        blocks = vtimezone.sub(name)
        if expected is None:
            assert blocks == []
            continue
        (block,) = blocks
        offset_from, offset_to, rule = expected
        assert block.value("TZOFFSETFROM") == offset_from
        assert block.value("TZOFFSETTO") == offset_to
        if rule is None:
            assert not block.all("RRULE")
        else:
            assert block.value("RRULE") == f"FREQ=YEARLY;{rule}"


def test_utc_and_unknown_zones_have_no_vtimezone():
    assert ical.vtimezone("UTC") is None
    assert ical.vtimezone("Nowhere/Atlantis") is None


# An invitation (iTIP REQUEST) --------------------------------------------------------------

REQUEST_CASES = [
    _monthly(zone, day) for zone in ZONES for day in (date(2026, 1, 13), date(2026, 7, 14))
] + [_monthly(CASABLANCA, date(2026, 3, 10))]


def _attendee_params(vevent: Component) -> tuple[dict[str, str], str]:
    (attendee,) = vevent.all("ATTENDEE")
    return attendee


@pytest.mark.parametrize("case", REQUEST_CASES, ids=lambda case: case.id)
@pytest.mark.parametrize("sequence", [0, 3])
def test_a_request_has_what_rfc_5546_asks(case, sequence):
    event = event_of(case, sequence=sequence)
    cal = assert_well_formed(invitation(event))
    assert cal.value("METHOD") == "REQUEST"
    (vevent,) = cal.sub("VEVENT")
    assert [child.name for child in cal.children if child.name != "VTIMEZONE"] == ["VEVENT"]
    assert vevent.value("UID") == f"meeting-41@{HOST}" == ical.meeting_uid(41, HOST)
    assert vevent.value("DTSTAMP") == "20260102T093000Z"
    assert vevent.value("SEQUENCE") == str(sequence)
    assert vevent.value("SUMMARY")  # (its text: test_non_ascii_text_survives_every_parser)
    params, organizer = vevent.one("ORGANIZER")
    assert organizer == "mailto:chair@example.org"
    assert params == {"CN": "Élodie Lefèvre"}
    params, attendee = _attendee_params(vevent)
    assert attendee == "mailto:zoe@example.org"
    assert params == {
        "CN": "Zoë Côté-Brûlé",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "TRUE",
    }
    assert vevent.value("LOCATION") == VIDEO
    assert vevent.value("DESCRIPTION")
    assert vevent.value("STATUS") == "CONFIRMED"
    assert vevent.value("URL") == f"https://{HOST}/communities/3/meetings/41/"
    if case.start in IN_RAMADAN:
        assert not cal.sub("VTIMEZONE")
    else:
        (tz,) = cal.sub("VTIMEZONE")
        assert tz.value("TZID") == case.zone
        assert vevent.one("DTSTART") == ({"TZID": case.zone}, f"{case.start:%Y%m%dT%H%M%S}")


def test_a_request_is_read_the_same_way_by_every_parser():
    data = invitation(event_of(switch_day(VANCOUVER, local(2026, 3, 8, 1, 30)), sequence=2))
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert event["UID"] == f"meeting-41@{HOST}"
    assert icalendar.Calendar.from_ical(data)["METHOD"] == "REQUEST"
    assert event["SEQUENCE"] == 2
    assert [str(a) for a in event.attendees] == ["mailto:zoe@example.org"]
    card = vobject.readOne(data.decode())
    assert card.method.value == "REQUEST"
    assert card.vevent.uid.value == f"meeting-41@{HOST}"
    assert card.vevent.sequence.value == "2"
    assert card.vevent.attendee.params["RSVP"] == ["TRUE"]
    strict = IcsCalendarStream.calendar_from_ics(data.decode())
    assert strict.method == "REQUEST"
    (parsed,) = strict.events
    assert parsed.uid == f"meeting-41@{HOST}"
    assert parsed.sequence == 2
    assert parsed.status == "CONFIRMED"
    assert parsed.organizer.uri == "mailto:chair@example.org"
    (attendee,) = parsed.attendees
    assert (attendee.role, attendee.status, attendee.rsvp) == (
        "REQ-PARTICIPANT",
        "NEEDS-ACTION",
        True,
    )
    assert parsed.location == VIDEO
    assert parsed.dtstamp == STAMP


def test_an_attendee_without_a_name_has_no_cn():
    cal = tree(invitation(event_of(JANUARY[VANCOUVER]), attendee=Person("anon@example.org")))
    params, value = _attendee_params(cal.sub("VEVENT")[0])
    assert value == "mailto:anon@example.org"
    assert "CN" not in params
    assert params["RSVP"] == "TRUE"


def test_an_invitation_is_the_same_bytes_twice():
    event = event_of(switch_day(VANCOUVER, local(2026, 3, 8, 1, 30)))
    assert invitation(event) == invitation(event)


# An update, a cancellation -----------------------------------------------------------------


def test_an_update_keeps_the_uid_with_a_higher_sequence_and_the_new_time():
    first = event_of(_monthly(VANCOUVER, date(2026, 4, 14)))  # 12:00 PDT
    moved = Case(
        VANCOUVER,
        local(2026, 4, 14, 15),
        local(2026, 4, 14, 16),
        utc(2026, 4, 14, 22),
        utc(2026, 4, 14, 23),
    )
    update = event_of(moved, sequence=1, stamp=STAMP + timedelta(days=30))  # fmt: skip
    before, after = invitation(first), invitation(update)
    one, two = (assert_well_formed(data).sub("VEVENT")[0] for data in (before, after))
    assert one.value("UID") == two.value("UID") == f"meeting-41@{HOST}"
    assert int(two.value("SEQUENCE")) == int(one.value("SEQUENCE")) + 1
    assert two.value("DTSTAMP") > one.value("DTSTAMP")
    assert two.one("ORGANIZER") == one.one("ORGANIZER")
    assert tree(after).value("METHOD") == "REQUEST"
    assert_read_as(after, [moved])


@pytest.mark.parametrize("case", [JANUARY[VANCOUVER], CASABLANCA_RAMADAN], ids=lambda c: c.id)
def test_a_cancellation_has_what_rfc_5546_asks(case):
    request = tree(invitation(event_of(case, sequence=1))).sub("VEVENT")[0]
    data = invitation(event_of(case, sequence=2, cancelled=True), method=CANCEL)
    cal = assert_well_formed(data)
    assert cal.value("METHOD") == "CANCEL"
    (vevent,) = cal.sub("VEVENT")
    assert vevent.value("STATUS") == "CANCELLED"
    assert vevent.value("UID") == request.value("UID")
    assert vevent.value("SEQUENCE") == "2"
    assert vevent.one("ORGANIZER") == request.one("ORGANIZER")
    assert _attendee_params(vevent) == _attendee_params(request)
    assert not vevent.all("RECURRENCE-ID")
    assert_read_as(data, [case])
    strict = IcsCalendarStream.calendar_from_ics(data.decode())
    assert strict.method == "CANCEL"
    assert strict.events[0].status == "CANCELLED"
    assert vobject.readOne(data.decode()).vevent.status.value == "CANCELLED"


def test_a_cancellation_for_one_attendee_of_a_meeting_that_goes_on_says_no_status():
    """A member who left: RFC 5546 §3.2.5 — a CANCEL that removes attendees must not say the
    whole event is cancelled."""
    request = tree(invitation(event_of(JANUARY[VANCOUVER], sequence=1))).sub("VEVENT")[0]
    data = invitation(event_of(JANUARY[VANCOUVER], sequence=2), method=CANCEL)
    cal = assert_well_formed(data)
    assert cal.value("METHOD") == "CANCEL"
    (vevent,) = cal.sub("VEVENT")
    assert not vevent.all("STATUS")
    assert vevent.value("UID") == request.value("UID")
    assert vevent.value("SEQUENCE") == "2"
    assert _attendee_params(vevent) == _attendee_params(request)
    assert_read_as(data, [JANUARY[VANCOUVER]])
    assert IcsCalendarStream.calendar_from_ics(data.decode()).method == "CANCEL"


@pytest.mark.parametrize(
    ("cancelled", "method"),
    [(True, REQUEST), (False, "PUBLISH"), (True, "PUBLISH"), (False, "request")],
)
def test_an_invitation_refuses_a_method_that_does_not_fit(cancelled, method):
    with pytest.raises(ValueError, match=r"method|cancel"):
        ical.invitation_calendar(
            event_of(JANUARY[VANCOUVER], cancelled=cancelled),
            host=HOST,
            attendee=ATTENDEE,
            method=method,
        )


# A feed ----------------------------------------------------------------------------------


def _feed_events() -> list[MeetingEvent]:
    return [
        event_of(JANUARY[VANCOUVER], id=7, sequence=0),
        event_of(ST_JOHNS_MARCH, id=8, sequence=2, cancelled=True),
        event_of(CASABLANCA_RAMADAN, id=9, sequence=1),
        event_of(SECOND_0130, id=10),
    ]


def test_a_feed_has_what_rfc_5545_and_7986_ask():
    events = _feed_events()
    name = "Communauté de pratique — réunions"
    data = feed(events, name=name)
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in data
    cal = assert_well_formed(data)
    assert not cal.all("METHOD")
    assert cal.value("NAME") == name
    assert cal.value("X-WR-CALNAME") == name
    assert cal.one("X-PUBLISHED-TTL") == ({}, "PT1H")
    assert cal.value("UID") == FEED_UID
    assert not any(component.all("ATTENDEE") for component in cal.walk())
    vevents = cal.sub("VEVENT")
    assert len(vevents) == len(events)
    invited = [
        tree(invitation(e, method=CANCEL if e.cancelled else REQUEST)).sub("VEVENT")[0]
        for e in events
    ]
    for vevent, event, sent in zip(vevents, events, invited, strict=True):
        assert vevent.value("UID") == sent.value("UID") == f"meeting-{event.id}@{HOST}"
        assert vevent.value("SEQUENCE") == str(event.sequence)
        assert vevent.value("STATUS") == ("CANCELLED" if event.cancelled else "CONFIRMED")
        assert vevent.one("ORGANIZER") == sent.one("ORGANIZER")
        assert vevent.value("DTSTAMP") == "20260102T093000Z"
    # Casablanca's meeting is in Ramadan, and one of Vancouver's is in the second 01:30 of
    # 1 November: a zone's meetings all go in UTC when one of them cannot have its TZID.
    assert [tz.value("TZID") for tz in cal.sub("VTIMEZONE")] == [ST_JOHNS]
    assert [v.value("DTSTART")[-1] == "Z" for v in vevents] == [True, False, True, True]
    assert_read_as(data, [JANUARY[VANCOUVER], ST_JOHNS_MARCH, CASABLANCA_RAMADAN, SECOND_0130])
    strict = IcsCalendarStream.calendar_from_ics(data.decode())
    assert strict.method is None
    assert strict.name == [name]
    statuses = ["CONFIRMED", "CANCELLED", "CONFIRMED", "CONFIRMED"]
    assert [e.status for e in strict.events] == statuses
    card = vobject.readOne(data.decode())
    assert card.contents["x-wr-calname"][0].value == name
    parsed = icalendar.Calendar.from_ical(data)
    assert parsed["REFRESH-INTERVAL"].dt == H
    assert parsed["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"


def test_a_feed_is_the_same_bytes_for_the_same_meetings():
    """(Stable for ETags), also when the VTIMEZONEs are made afresh."""
    first = feed(_feed_events())
    ical.vtimezone.cache_clear()
    ical._reader.cache_clear()
    assert feed(_feed_events()) == first


def test_an_empty_feed_is_still_a_calendar():
    data = feed([])
    cal = assert_well_formed(data)
    assert cal.sub("VEVENT") == [] == cal.sub("VTIMEZONE")
    assert read_everywhere(data) == {
        "icalendar": [],
        "vobject": [],
        "ical": [],
        "ical-vtimezone": [],
        "recurring-ical-events": [],
    }


# Text --------------------------------------------------------------------------------------

NAMES = [
    Person("zoe@example.org", "Zoë Côté-Brûlé"),
    Person("zoe@example.org", "Côté, Zoë"),
    Person("zoe@example.org", "Zoë; l’invitée — « chère »"),  # noqa: RUF001
]


@pytest.mark.parametrize("attendee", NAMES, ids=["accents", "comma", "semicolon"])
@pytest.mark.parametrize("method", [REQUEST, CANCEL, "feed"])
def test_non_ascii_text_survives_every_parser(attendee, method):
    event = event_of(VANCOUVER_JULY, cancelled=method == CANCEL)
    data = feed([event]) if method == "feed" else invitation(event, method, attendee)
    assert_well_formed(data)
    assert any(line.startswith(b" ") for line in physical_lines(data))  # folded
    assert len(TITLE.encode()) > 75

    (parsed,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(parsed["SUMMARY"]) == TITLE
    assert str(parsed["DESCRIPTION"]) == DESCRIPTION
    assert str(parsed["LOCATION"]) == VIDEO
    assert parsed["ORGANIZER"].params["CN"] == ORGANIZER.name

    card = vobject.readOne(data.decode()).vevent
    assert card.summary.value == TITLE
    assert card.description.value == DESCRIPTION
    assert card.location.value == VIDEO
    assert card.organizer.params["CN"] == [ORGANIZER.name]

    (strict,) = IcsCalendarStream.calendar_from_ics(data.decode()).events
    assert strict.summary == TITLE
    assert strict.description == DESCRIPTION
    assert strict.location == VIDEO
    assert strict.organizer.common_name == ORGANIZER.name

    if method == "feed":
        assert "attendee" not in vobject.readOne(data.decode()).vevent.contents
        return
    assert [a.params["CN"] for a in parsed.attendees] == [attendee.name]
    assert card.attendee.params["CN"] == [attendee.name]
    assert [a.common_name for a in strict.attendees] == [attendee.name]


def test_every_long_line_is_folded_at_75_octets():
    event = event_of(VANCOUVER_JULY, title="é" * 200, description="— " * 300)
    for data in (invitation(event), feed([event])):
        lines = physical_lines(data)
        assert max(len(line) for line in lines) <= 75
        folded = [line for line in lines if line.startswith(b" ")]
        assert len(folded) > 10
        for line in lines:
            line.decode()
        (parsed,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
        assert str(parsed["SUMMARY"]) == "é" * 200
        assert vobject.readOne(data.decode()).vevent.description.value == "— " * 300
        assert IcsCalendarStream.calendar_from_ics(data.decode()).events[0].summary == "é" * 200
