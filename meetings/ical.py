"""Calendars for meetings, built by pure functions (no database): the invitation, its
update and cancellation (iTIP REQUEST / CANCEL, RFC 5546), feeds and downloads.

Each meeting is its own event with a stable UID (`meeting-<id>@<host>`). Times carry the
meeting's zone (`TZID`) with a `VTIMEZONE` of one `STANDARD` and one `DAYLIGHT` block,
each with a yearly `RRULE`, made from the zone's current rule (the POSIX string at the end
of its tz database file) — never lists of `RDATE`s, which Outlook shifts wrongly. When the
zone's rule cannot be said that way, or says another offset than the tz database for the
meeting's own times, or a time is the second of a wall-clock time that happens twice (a
TZID names the first), the times are written in UTC instead, which needs no VTIMEZONE.
Never a floating time. See `../shared/ICAL.md` for why.
"""

import os
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vDuration,
)

PRODID = "-//Communities of practice//Meetings//EN"
REQUEST = "REQUEST"
CANCEL = "CANCEL"


@dataclass(frozen=True)
class Person:
    email: str
    name: str = ""


@dataclass(frozen=True)
class MeetingEvent:
    """What a calendar says about one meeting; `description` is already in the reader's
    language. `stamp` is the DTSTAMP: when a message was made, or the meeting's last change
    for feeds and downloads (so the same meeting gives the same bytes)."""

    id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    zone: str
    sequence: int
    cancelled: bool
    stamp: datetime
    organizer: Person
    video_url: str = ""
    url: str = ""
    description: str = ""


def meeting_uid(meeting_id: int, host: str) -> str:
    return f"meeting-{meeting_id}@{host}"


# Time zones ----------------------------------------------------------------------------

_NAME = r"(?:[A-Za-z]{3,}|<[+\-0-9A-Za-z]+>)"
_OFFSET = r"[+-]?\d{1,2}(?::\d{2}){0,2}"
_RULE = re.compile(
    rf"^(?P<std>{_NAME})(?P<std_offset>{_OFFSET})"
    rf"(?:(?P<dst>{_NAME})(?P<dst_offset>{_OFFSET})?"
    r",M(?P<m1>\d{1,2})\.(?P<w1>[1-5])\.(?P<d1>[0-6])(?:/(?P<t1>\d{1,2}(?::\d{2}){0,2}))?"
    r",M(?P<m2>\d{1,2})\.(?P<w2>[1-5])\.(?P<d2>[0-6])(?:/(?P<t2>\d{1,2}(?::\d{2}){0,2}))?)?$"
)
_DAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"]


def _seconds(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


def _posix_rule(zone: str) -> str | None:
    """The zone's current rule: the footer of its TZif file (RFC 8536 §3.3)."""
    data = None
    for folder in zoneinfo.TZPATH:
        path = os.path.join(folder, zone)
        if os.path.isfile(path):
            with open(path, "rb") as file:
                data = file.read()
            break
    if data is None:
        try:
            package, _sep, name = f"tzdata.zoneinfo.{zone}".replace("/", ".").rpartition(".")
            data = resources.files(package).joinpath(name).read_bytes()
        except (ImportError, OSError, ValueError):
            return None
    if not data.startswith(b"TZif") or data[4:5] < b"2":
        return None
    footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return footer.decode("ascii", "replace")


def _name(text: str) -> str:
    return text.strip("<>")


def _first(year: int, month: int, week: int, weekday: int) -> date:
    """The `week`-th (5: last) `weekday` (0: Sunday) of a month, as POSIX says."""
    day = date(year, month, 1)
    day += timedelta(days=(weekday - (day.isoweekday() % 7)) % 7)
    day += timedelta(weeks=week - 1)
    while day.month != month:
        day -= timedelta(weeks=1)
    return day


def _observance(cls, *, name, offset_from, offset_to, month, week, weekday, at):
    block = cls()
    onset = _first(1970, month, week, weekday)
    block.add("DTSTART", datetime.combine(onset, datetime.min.time()) + timedelta(seconds=at))
    block.add("TZOFFSETFROM", timedelta(seconds=offset_from))
    block.add("TZOFFSETTO", timedelta(seconds=offset_to))
    block.add("TZNAME", name)
    byday = f"{-1 if week == 5 else week}{_DAYS[weekday]}"
    block.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": month, "BYDAY": byday})
    return block


@lru_cache(maxsize=256)
def vtimezone(zone: str) -> Timezone | None:
    """A VTIMEZONE for `zone` from its current rule, or None when the rule cannot be said
    with one STANDARD and one DAYLIGHT block (each with a yearly RRULE)."""
    if zone == "UTC":
        return None
    rule = _posix_rule(zone)
    match = _RULE.match(rule or "")
    if match is None:
        return None
    std_offset = -_seconds(match["std_offset"])  # POSIX counts west of Greenwich
    tz = Timezone()
    tz.add("TZID", zone)
    if not match["dst"]:
        block = TimezoneStandard()
        block.add("DTSTART", datetime(1970, 1, 1))
        block.add("TZOFFSETFROM", timedelta(seconds=std_offset))
        block.add("TZOFFSETTO", timedelta(seconds=std_offset))
        block.add("TZNAME", _name(match["std"]))
        tz.add_component(block)
        return tz
    dst_offset = -_seconds(match["dst_offset"]) if match["dst_offset"] else std_offset + 3600
    start_at, end_at = (_seconds(match[t]) if match[t] else 7200 for t in ("t1", "t2"))
    tz.add_component(
        _observance(
            TimezoneDaylight,
            name=_name(match["dst"]),
            offset_from=std_offset,
            offset_to=dst_offset,
            month=int(match["m1"]),
            week=int(match["w1"]),
            weekday=int(match["d1"]),
            at=start_at,
        )
    )
    tz.add_component(
        _observance(
            TimezoneStandard,
            name=_name(match["std"]),
            offset_from=dst_offset,
            offset_to=std_offset,
            month=int(match["m2"]),
            week=int(match["w2"]),
            weekday=int(match["d2"]),
            at=end_at,
        )
    )
    return tz


@lru_cache(maxsize=256)
def _reader(zone: str):
    """The VTIMEZONE of `zone` as a client reads it: its blocks, not the TZID's name."""
    tz = vtimezone(zone)
    try:
        return tz.to_tz(lookup_tzid=False) if tz is not None else None
    except Exception:
        return None


def _says_right(zone: str, instants: Iterable[datetime]) -> bool:
    """Does the wall-clock time written with this VTIMEZONE name each instant? A repeated
    wall-clock time (when clocks go back) means its first occurrence (RFC 5545 §3.3.5), so
    an instant in the second one (fold=1) cannot be written with a TZID."""
    read = _reader(zone)
    if read is None:
        return False
    real = ZoneInfo(zone)
    for instant in instants:
        local = instant.astimezone(real)
        if local.replace(tzinfo=read, fold=0).utcoffset() != local.utcoffset():
            return False
    return True


def _zone_for(events: Iterable[MeetingEvent]) -> dict[str, Timezone | None]:
    """For each zone used: its VTIMEZONE, or None where the times go in UTC."""
    by_zone: dict[str, list[datetime]] = {}
    for event in events:
        by_zone.setdefault(event.zone, []).extend((event.starts_at, event.ends_at))
    chosen = {}
    for zone, instants in by_zone.items():
        tz = vtimezone(zone)
        chosen[zone] = tz if tz is not None and _says_right(zone, instants) else None
    return chosen


# Events and calendars ------------------------------------------------------------------


def _address(person: Person, **params) -> vCalAddress:
    return vCalAddress.new(person.email, cn=person.name or None, **params)


def _local(moment: datetime, zone: str, tz: Timezone | None) -> datetime:
    if tz is None:
        return moment.astimezone(UTC)
    return moment.astimezone(ZoneInfo(zone))


def meeting_vevent(
    event: MeetingEvent,
    *,
    host: str,
    tz: Timezone | None,
    attendees: Iterable[Person] = (),
    status: bool = True,
) -> Event:
    """One meeting as a VEVENT; `attendees` only in emails (never in feeds). `status`
    False leaves STATUS out: a CANCEL that removes one attendee (RFC 5546 §3.2.5) must not
    say the whole event is cancelled."""
    return Event.new(
        uid=meeting_uid(event.id, host),
        sequence=event.sequence,
        stamp=event.stamp.astimezone(UTC),
        start=_local(event.starts_at, event.zone, tz),
        end=_local(event.ends_at, event.zone, tz),
        summary=event.title,
        organizer=_address(event.organizer),
        attendees=[
            _address(person, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp=True)
            for person in attendees
        ]
        or None,
        status=("CANCELLED" if event.cancelled else "CONFIRMED") if status else None,
        location=event.video_url or None,
        description=event.description or None,
        url=event.url or None,
    )


def _calendar(events: list[MeetingEvent], *, uid: str, method: str | None):
    """An empty calendar with the VTIMEZONEs `events` need, and which zone each uses.
    Its UID is given (Calendar.new would draw a random one): the same input, the same bytes."""
    zones = _zone_for(events)
    calendar = Calendar.new(prodid=PRODID, method=method, uid=uid)
    for zone in sorted(zones):
        if zones[zone] is not None:
            calendar.add_component(zones[zone])
    return calendar, zones


def invitation_calendar(
    event: MeetingEvent, *, host: str, attendee: Person, method: str = REQUEST
) -> Calendar:
    """The calendar of one member's invitation (`REQUEST`, also for updates) or its
    cancellation (`CANCEL`): of the whole event when it is cancelled (`STATUS:CANCELLED`),
    else of this attendee only (they left the community; no STATUS)."""
    if method not in (REQUEST, CANCEL):
        raise ValueError(f"unknown method {method!r}")
    if method == REQUEST and event.cancelled:
        raise ValueError("a cancelled event is sent as a CANCEL, never a REQUEST")
    uid = f"{meeting_uid(event.id, host)}-{event.sequence}-{method.lower()}"
    calendar, zones = _calendar([event], uid=uid, method=method)
    calendar.add_component(
        meeting_vevent(
            event,
            host=host,
            tz=zones[event.zone],
            attendees=[attendee],
            status=method == REQUEST or event.cancelled,
        )
    )
    return calendar


def feed_calendar(
    events: Iterable[MeetingEvent],
    *,
    host: str,
    name: str,
    uid: str,
    refresh: timedelta = timedelta(hours=1),
) -> Calendar:
    """A subscription feed (or a download, with one event): no METHOD, no ATTENDEE; the
    calendar's name both as RFC 7986's NAME and as X-WR-CALNAME, which older clients read."""
    events = list(events)
    calendar, zones = _calendar(events, uid=uid, method=None)
    calendar.add("NAME", name)
    calendar.add("X-WR-CALNAME", name)
    calendar.add("REFRESH-INTERVAL", refresh, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", vDuration(refresh))
    for event in events:
        calendar.add_component(meeting_vevent(event, host=host, tz=zones[event.zone]))
    return calendar


def serialize(calendar: Calendar) -> bytes:
    return calendar.to_ical()
