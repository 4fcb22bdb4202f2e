"""The published agenda in what a meeting's invitation says (the section agendas adds
through meetings' hooks): in the invitation's and the update's text, HTML and calendar
DESCRIPTION, at each member's time, in their language; nothing for a draft or in a
cancellation; the feeds and the download carry it too, at a fixed number of queries."""

from datetime import time, timedelta
from email import message_from_bytes, policy

import icalendar
import pytest
import vobject
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agendas import services
from agendas.enums import ItemKind
from meetings import services as meeting_services
from meetings.models import Meeting
from outbox.services import outbox_send_due
from tests.agendas.helpers import world
from tests.factories import MembershipFactory, UserFactory
from tests.meetings.helpers import NOW, community_with

pytestmark = pytest.mark.django_db

HOST = "cop.example.ca"

# The standing agenda of a meeting at noon in Vancouver, with four members (the manager
# and three): the roundtable lasts its 2 minutes plus four turns of 60 seconds.
ST_JOHNS = [
    "Agenda (St. John's time):",
    "4:30 p.m.  New members introduction (5 min)",
    "4:35 p.m.  Current progress / initiatives roundtable (6 min)",
    "4:41 p.m.  Focus presentation (15 min)",
    "           Topic: Sleep",
    "           Presented by Member C",
    "4:56 p.m.  Open discussion (20 min)",
    "5:16 p.m.  Future agenda and next meeting (5 min)",
    "5:21 p.m.  Q&A <live> (10 min)",
]
VANCOUVER = [
    "Agenda (Vancouver time):",
    "noon  New members introduction (5 min)",
    "12:05 p.m.  Current progress / initiatives roundtable (6 min)",
    "12:11 p.m.  Focus presentation (15 min)",
    "            Topic: Sleep",
    "            Presented by Member C",
    "12:26 p.m.  Open discussion (20 min)",
    "12:46 p.m.  Future agenda and next meeting (5 min)",
    "12:51 p.m.  Q&A <live> (10 min)",
]


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = f"https://{HOST}"


def _zoned_world():
    """The agendas world (its first meeting on January 13th, 2026, at noon in Vancouver)
    with one member in St. John's, one in Vancouver, and one who reads French in Toronto;
    the first meeting's agenda with a focus presentation and an item of its own."""
    community, manager, users, meetings = world(3)
    zones = [("America/St_Johns", "en"), ("America/Vancouver", "en"), ("America/Toronto", "fr")]
    for user, (zone, language) in zip(users, zones, strict=True):
        user.timezone, user.language = zone, language
        user.save(update_fields=["timezone", "language"])
    meeting = meetings[0]
    agenda = services.agenda_ensure(meeting=meeting, now=NOW)
    services.agenda_focus_set(
        actor=manager, agenda=agenda, focus_topic="Sleep", presenter=users[2], now=NOW
    )
    services.agenda_item_add(actor=manager, agenda=agenda, title="Q&A <live>", minutes=10, now=NOW)
    return community, manager, users, meeting, agenda


def _send_all() -> int:
    total = 0
    while sent := outbox_send_due(now=timezone.now() + timedelta(days=1)):
        total += sent
    return total


def _received(inbox) -> dict[str, list]:
    found: dict[str, list] = {}
    for raw in inbox.messages:
        message = message_from_bytes(raw.as_bytes(), policy=policy.default)
        found.setdefault(message["To"], []).append(message)
    return found


def _parts(message) -> tuple[str, str, icalendar.Event, str]:
    """The message's text, its HTML, its event (icalendar) and the DESCRIPTION vobject reads."""
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    calendar_text = part.get_content()
    card = vobject.readOne(calendar_text)
    card.validate(raiseException=True)
    (event,) = icalendar.Calendar.from_ical(calendar_text).events
    return text, html, event, card.vevent.description.value


def _block(lines: list[str]) -> str:
    return "\n".join(lines)


def test_invitation_after_publishing_carries_the_agenda_in_each_members_zone(smtp_server):
    _community, manager, (st_johns, vancouver, _french), meeting, agenda = _zoned_world()
    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)

    meeting_services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()

    received = _received(smtp_server)
    for user, lines in ((st_johns, ST_JOHNS), (vancouver, VANCOUVER)):
        (message,) = received[user.email]
        text, html, event, description = _parts(message)
        assert _block(lines) in text
        assert text.index("Meeting page: ") < text.index(lines[0]) < text.index("Will you come?")
        assert str(event["DESCRIPTION"]) == description
        assert description.endswith("\n\n" + _block(lines))
        assert "<p>" + "<br>".join(escape(line) for line in lines) + "</p>" in html
        assert "<live>" not in html and "<pre" not in html and "style=" not in html


def test_editing_the_published_agenda_sends_one_update_with_the_new_agenda(smtp_server):
    _community, manager, users, meeting, agenda = _zoned_world()
    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)
    meeting_services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    invited = _received(smtp_server)
    smtp_server.messages.clear()
    introductions = agenda.items.get(kind=ItemKind.INTRODUCTIONS)

    services.agenda_item_update(
        actor=manager,
        agenda=agenda,
        item_id=introductions.pk,
        title=introductions.title,
        minutes=10,
        now=NOW,
    )
    _send_all()

    updates = _received(smtp_server)
    assert sorted(updates) == sorted(invited) == sorted([manager.email, *(u.email for u in users)])
    st_johns, vancouver, _french = users
    for user, first, second in (
        (st_johns, "4:30 p.m.  New members introduction (10 min)", "4:40 p.m.  Current progress"),
        (vancouver, "noon  New members introduction (10 min)", "12:10 p.m.  Current progress"),
    ):
        (update,) = updates[user.email]
        text, _html, event, description = _parts(update)
        assert "has changed" in text
        for shown in (text, description):
            assert f"{first}\n{second}" in shown
            assert "New members introduction (5 min)" not in shown
        (_text, _html, before, _description) = _parts(invited[user.email][0])
        assert int(event["SEQUENCE"]) == int(before["SEQUENCE"]) + 1
        assert str(event["UID"]) == str(before["UID"]) == f"meeting-{meeting.pk}@{HOST}"
    assert Meeting.objects.get(pk=meeting.pk).sequence == int(event["SEQUENCE"])


def test_publishing_after_the_invitations_sends_each_member_the_agenda(smtp_server):
    _community, manager, users, meeting, agenda = _zoned_world()
    meeting_services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    invited = _received(smtp_server)
    smtp_server.messages.clear()

    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)
    _send_all()

    updates = _received(smtp_server)
    assert sorted(updates) == sorted(invited)
    st_johns = users[0]
    (update,) = updates[st_johns.email]
    text, _html, event, description = _parts(update)
    (_text, _html, before, before_description) = _parts(invited[st_johns.email][0])
    assert "4:30 p.m.  New members introduction (5 min)" not in before_description
    for shown in (text, description):
        assert "4:30 p.m.  New members introduction (5 min)" in shown
    assert int(event["SEQUENCE"]) == int(before["SEQUENCE"]) + 1
    assert str(event["UID"]) == str(before["UID"])


def test_an_unpublished_agenda_adds_nothing(smtp_server):
    _community, manager, (st_johns, *_others), meeting, _agenda = _zoned_world()

    meeting_services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()

    (message,) = _received(smtp_server)[st_johns.email]
    for shown in _parts(message)[:2] + _parts(message)[3:]:
        assert "Agenda" not in shown
        assert "New members introduction" not in shown
        assert "Sleep" not in shown


def test_a_french_member_gets_the_agenda_in_a_french_email(smtp_server):
    _community, manager, (_st_johns, _vancouver, french), meeting, agenda = _zoned_world()
    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)

    meeting_services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()

    (message,) = _received(smtp_server)[french.email]
    text, html, _event, description = _parts(message)
    assert "vous invite" in text
    # Noon in Vancouver is 15:00 in Toronto; the items' titles are the community's.
    lines = [
        "15:00  New members introduction (5 min)",
        "15:05  Current progress / initiatives roundtable (6 min)",
        "15:11  Focus presentation (15 min)",
        "       Sujet\u00a0: Sleep",
        "       Présentée par Member C",
        "15:26  Open discussion (20 min)",
    ]
    for shown in (text, description):
        assert _block(lines) in shown
    assert "Présentée par Member C" in html


def test_the_cancellation_carries_no_agenda(smtp_server):
    _community, manager, (st_johns, *_others), meeting, agenda = _zoned_world()
    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)
    meeting_services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    smtp_server.messages.clear()

    meeting_services.meeting_cancel(actor=manager, meeting=meeting, now=NOW)
    _send_all()

    (message,) = _received(smtp_server)[st_johns.email]
    text, html, event, description = _parts(message)
    assert "is cancelled" in text
    assert str(event["STATUS"]) == "CANCELLED"
    for shown in (text, html, description):
        assert "New members introduction" not in shown and "Sleep" not in shown


# The feeds and the download: ahead of the real clock ------------------------------------


def _meeting_with_agenda(community, manager, *, days: int = 30, publish: bool = True):
    meeting = meeting_services.meeting_create(
        actor=UserFactory(is_staff=True),
        community=community,
        title="Monthly call",
        day=(timezone.now() + timedelta(days=days)).date(),
        start_time=time(12),
    )
    agenda = services.agenda_ensure(meeting=meeting)
    if publish:
        services.agenda_publish(actor=manager, agenda=agenda)
    return meeting


def _description(response) -> str:
    (event,) = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    vobject.readOne(response.content.decode()).validate(raiseException=True)
    return str(event["DESCRIPTION"])


def test_feed_and_download_carry_the_published_agenda(client):
    community, manager, (member,) = community_with(1)
    member.timezone = "America/St_Johns"
    member.save(update_fields=["timezone"])
    meeting = _meeting_with_agenda(community, manager)
    feed = meeting_services.feed_get_or_create(user=member, community=community)
    # Noon in Vancouver, winter or summer; two members: the roundtable lasts 2 minutes
    # plus two turns of 60 seconds.
    lines = [
        "Agenda (St. John's time):",
        "4:30 p.m.  New members introduction (5 min)",
        "4:35 p.m.  Current progress / initiatives roundtable (4 min)",
        "4:39 p.m.  Focus presentation (15 min)",
    ]

    from_feed = _description(client.get(reverse("meetings:calendar_feed", args=[feed.token])))
    client.force_login(member)
    download = client.get(reverse("meetings:calendar_download", args=[community.slug, meeting.pk]))

    assert _block(lines) in from_feed
    assert _description(download) == from_feed


def test_feed_of_published_agendas_runs_the_same_queries_for_one_meeting_or_three(client):
    def count(feed) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("meetings:calendar_feed", args=[feed.token]))
        assert response.status_code == 200
        return len(queries)

    community, manager, (member,) = community_with(1)
    other, other_manager, _others = community_with(1)
    MembershipFactory(community=other, user=member)
    feed = meeting_services.feed_get_or_create(user=member)
    _meeting_with_agenda(community, manager, days=10)
    _meeting_with_agenda(community, manager, days=20, publish=False)
    one = count(feed)
    _meeting_with_agenda(other, other_manager, days=40)
    _meeting_with_agenda(other, other_manager, days=70)

    response = client.get(reverse("meetings:calendar_feed", args=[feed.token]))
    descriptions = [
        str(event["DESCRIPTION"])
        for event in icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    ]
    assert ["Agenda (" in d for d in descriptions] == [True, False, True, True]
    # The feed; its meetings with their agendas, templates and member counts; the items.
    assert count(feed) == one == 3
