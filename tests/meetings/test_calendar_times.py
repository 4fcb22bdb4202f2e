"""The times in the calendars the app really serves and sends — the feed, a download and
the invitations through a real SMTP server — read by three strict parsers and compared with
the meetings' local times across a year of daylight-saving changes, in a zone with half-hour
offsets (St. John's), one with daylight saving (Vancouver) and one without (Regina).

(tests/meetings/test_ical.py does the same for the pure builders; this is what a member's
calendar gets.)"""

from datetime import datetime, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from django.urls import reverse
from django.utils import timezone
from ical.calendar_stream import IcsCalendarStream

from meetings import services
from meetings.models import Meeting
from outbox.services import outbox_send_due
from tests.meetings.helpers import community_with, meetings_of, series_make

pytestmark = pytest.mark.django_db

HOST = "cop.example.ca"
ZONES = ["America/St_Johns", "America/Vancouver", "America/Regina"]


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = f"https://{HOST}"


def _world(zone: str):
    """A monthly series at 12:00 in `zone` for the year to come (every daylight-saving
    change of it), its members in the same zone."""
    now = timezone.now()
    community, manager, members = community_with(2, zone=zone, joined=now - timedelta(days=400))
    series = series_make(community, manager, first_date=now.date(), now=now)
    meetings = [m for m in meetings_of(series) if m.starts_at > now]
    assert len(meetings) >= 11
    return community, manager, members, meetings


def _starts_by_parser(text: str) -> dict[str, dict[str, datetime]]:
    """Each parser's DTSTART of each event, by UID, as aware datetimes."""
    calendar = icalendar.Calendar.from_ical(text)
    assert calendar.errors == [] and calendar.get_missing_tzids() == set()
    by_icalendar = {str(e["UID"]): e.decoded("DTSTART") for e in calendar.walk("VEVENT")}
    component = vobject.readOne(text)
    component.validate(raiseException=True)
    by_vobject = {e.uid.value: e.dtstart.value for e in component.vevent_list}
    by_ical = {e.uid: e.dtstart for e in IcsCalendarStream.calendar_from_ics(text).events}
    return {"icalendar": by_icalendar, "vobject": by_vobject, "ical": by_ical}


def _assert_at_noon(text: str, meetings: list[Meeting], zone: str) -> None:
    local = ZoneInfo(zone)
    for parser, starts in _starts_by_parser(text).items():
        for meeting in meetings:
            start = starts[f"meeting-{meeting.pk}@{HOST}"]
            assert start.tzinfo is not None, (parser, meeting.starts_at)  # never floating
            assert start == meeting.starts_at, (parser, zone, meeting.starts_at)
            wall = start.astimezone(local)
            assert (wall.hour, wall.minute) == (12, 0), (parser, zone, wall)


@pytest.mark.parametrize("zone", ZONES)
def test_the_feed_says_noon_local_for_each_meeting_of_the_year(client, zone):
    _community, _manager, (member, _other), meetings = _world(zone)
    offsets = {m.starts_at.astimezone(ZoneInfo(zone)).utcoffset() for m in meetings}
    # The year crosses the zone's changes (none in Regina).
    assert len(offsets) == (1 if zone == "America/Regina" else 2)
    feed = services.feed_get_or_create(user=member)

    response = client.get(reverse("meetings:calendar_feed", args=[feed.token]))

    assert response.status_code == 200
    _assert_at_noon(response.content.decode(), meetings, zone)


@pytest.mark.parametrize("zone", ZONES)
def test_a_download_on_each_side_of_a_change_says_noon_local(client, zone):
    _community, _manager, (member, _other), meetings = _world(zone)
    client.force_login(member)
    for meeting in (meetings[0], meetings[6]):  # winter, then summer
        url = reverse("meetings:calendar_download", args=[meeting.community.slug, meeting.pk])
        response = client.get(url)
        assert response.status_code == 200
        _assert_at_noon(response.content.decode(), [meeting], zone)


def _send_all() -> None:
    while outbox_send_due(now=timezone.now() + timedelta(days=1)):
        pass


@pytest.mark.parametrize("zone", ZONES)
def test_invitations_update_and_cancellation_as_sent_say_noon_local(smtp_server, zone):
    _community, manager, members, meetings = _world(zone)
    winter, summer = meetings[0], meetings[6]
    for meeting in (winter, summer):
        services.invitations_send(actor=manager, meeting=meeting)
    _send_all()
    services.meeting_update(actor=manager, meeting=summer, title="Summer call")
    _send_all()
    services.meeting_cancel(actor=manager, meeting=winter)
    _send_all()

    received = [
        message_from_bytes(m.as_bytes(), policy=policy.default) for m in smtp_server.messages
    ]
    sent = {"REQUEST": 0, "CANCEL": 0}
    for message in received:
        (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        text = part.get_content()
        method = str(icalendar.Calendar.from_ical(text)["METHOD"])
        sent[method] += 1
        (uid,) = _starts_by_parser(text)["icalendar"]
        meeting = winter if uid == f"meeting-{winter.pk}@{HOST}" else summer
        _assert_at_noon(text, [Meeting.objects.get(pk=meeting.pk)], zone)
    everyone = len(members) + 1
    # Invitations to both, the summer one's update, the winter one's cancellation.
    assert sent == {"REQUEST": 3 * everyone, "CANCEL": everyone}
