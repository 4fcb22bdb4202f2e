"""Invitations, updates and cancellations: queued in the outbox per member, sent through a
real SMTP server (aiosmtpd on loopback), and what arrives is what calendars need."""

from datetime import time, timedelta
from email import message_from_bytes, policy

import pytest
import vobject
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from communities import services as community_services
from communities.enums import JoinPolicy, MembershipStatus
from communities.models import Membership
from communities.services import CommunityActionError
from meetings import emails, selectors, services
from meetings.enums import MailKind, MeetingStatus
from meetings.models import Invitation, Meeting
from outbox.enums import EmailState
from outbox.models import Email
from outbox.services import outbox_send_due
from tests.factories import UserFactory
from tests.meetings.helpers import (
    NOW,
    SECOND_TUESDAY,
    community_with,
    db_state,
    meetings_of,
    member_add,
    series_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings):
    settings.SITE_URL = "https://cop.example.ca"
    community, manager, members = community_with(3, contact_email="staff@cop.example.ca")
    series = series_make(community, manager)
    meeting = meetings_of(series)[0]
    return community, manager, members, meeting


@pytest.fixture
def world_today(settings):
    """The same, with meetings ahead of the real clock: membership receivers run after
    commit with the real time."""
    settings.SITE_URL = "https://cop.example.ca"
    now = timezone.now()
    community, manager, members = community_with(
        3, contact_email="staff@cop.example.ca", joined=now - timedelta(days=400)
    )
    series = series_make(community, manager, first_date=now.date(), now=now)
    return community, manager, members, meetings_of(series)[0]


def _send_all() -> int:
    """What the background job does: send everything due, retries included (the outbox
    keeps real time: its rows are due from when they were queued)."""
    total = 0
    while sent := outbox_send_due(now=timezone.now() + timedelta(days=1)):
        total += sent
    return total


def _parsed(inbox):
    """Each message that arrived, parsed as an email (headers, parts)."""
    return [message_from_bytes(m.as_bytes(), policy=policy.default) for m in inbox.messages]


def _calendar_of(message):
    """The message's calendar part, and its calendar, read strictly by three parsers."""
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    text = parts[0].get_content()
    vobject.readOne(text).validate(raiseException=True)
    assert len(IcsCalendarStream.calendar_from_ics(text).events) == 1
    calendar = Calendar.from_ical(text)
    assert calendar.errors == [] and calendar.get_missing_tzids() == set()
    return parts[0], calendar


def _by_recipient(inbox):
    found: dict[str, list] = {}
    for message in _parsed(inbox):
        found.setdefault(message["To"], []).append(message)
    return found


def test_invitations_update_and_cancel_reach_each_member_once_with_one_uid(world, smtp_server):
    _community, manager, members, meeting = world
    active = [manager, *members]

    queued = services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    assert queued == len(active)
    _send_all()
    services.meeting_update(actor=manager, meeting=meeting, title="Moved call", now=NOW)
    _send_all()
    services.meeting_cancel(actor=manager, meeting=meeting, now=NOW)
    _send_all()

    received = _by_recipient(smtp_server)
    assert sorted(received) == sorted(user.email for user in active)
    for user in active:
        messages = received[user.email]
        assert len(messages) == 3, user.email
        methods, sequences, uids = [], [], set()
        for message in messages:
            assert message.get_content_type() == "multipart/alternative"
            types = [p.get_content_type() for p in message.iter_parts()]
            assert types == ["text/plain", "text/html", "text/calendar"]
            part, calendar = _calendar_of(message)
            method = calendar["METHOD"]
            assert part.get_param("method") == method
            assert part.get_content_charset().lower() == "utf-8"
            (event,) = calendar.events
            uids.add(str(event["UID"]))
            methods.append(str(method))
            sequences.append(int(event["SEQUENCE"]))
            (attendee,) = [event["ATTENDEE"]]
            assert str(attendee) == f"mailto:{user.email}"
            assert str(event["ORGANIZER"]) == "mailto:staff@cop.example.ca"
        assert methods == ["REQUEST", "REQUEST", "CANCEL"]
        assert uids == {f"meeting-{meeting.pk}@cop.example.ca"}
        assert sequences == sorted(sequences) and len(set(sequences)) == 3


def test_organizer_is_the_sites_sender_when_the_community_has_no_contact_address(
    settings, smtp_server
):
    settings.SITE_URL = "https://cop.example.ca"
    settings.DEFAULT_FROM_EMAIL = "Meetings desk <meetings@cop.example.ca>"
    community, manager, members = community_with(2, contact_email="")
    meeting = meetings_of(series_make(community, manager))[0]

    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()

    received = _parsed(smtp_server)
    assert sorted(m["To"] for m in received) == sorted(u.email for u in [manager, *members])
    for message in received:
        _part, calendar = _calendar_of(message)
        assert calendar["METHOD"] == "REQUEST"
        (event,) = calendar.events
        assert str(event["ORGANIZER"]) == "mailto:meetings@cop.example.ca"
        assert event["ORGANIZER"].params["CN"] == community.name


@pytest.mark.parametrize("change", ["start", "video_url"])
def test_a_moved_start_or_a_new_video_link_is_emailed_as_one_update_each(
    world, smtp_server, change
):
    _community, manager, members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    before = Meeting.objects.get(pk=meeting.pk)
    arrived = len(smtp_server.messages)

    if change == "start":
        services.meeting_update(actor=manager, meeting=meeting, start_time=time(14, 30), now=NOW)
    else:
        services.meeting_update(
            actor=manager, meeting=meeting, video_url="https://video.example.org/other", now=NOW
        )
    _send_all()

    after = Meeting.objects.get(pk=meeting.pk)
    if change == "start":
        assert after.starts_at == before.starts_at + timedelta(hours=2, minutes=30)
    else:
        assert after.video_url == "https://video.example.org/other"
    updates = _parsed(smtp_server)[arrived:]
    assert sorted(m["To"] for m in updates) == sorted(u.email for u in [manager, *members])
    for message in updates:
        part, calendar = _calendar_of(message)
        assert calendar["METHOD"] == "REQUEST" and part.get_param("method") == "REQUEST"
        (event,) = calendar.events
        assert str(event["UID"]) == f"meeting-{meeting.pk}@cop.example.ca"
        assert int(event["SEQUENCE"]) == before.sequence + 1 == after.sequence
        assert event["DTSTART"].dt == after.starts_at
        assert event["LOCATION"] == after.video_url
    assert Email.objects.filter(kind=MailKind.UPDATE).count() == len(updates)


def test_invitation_says_the_time_in_the_members_zone_and_language(world, smtp_server):
    _community, manager, members, meeting = world
    members[0].language, members[0].timezone = "fr", "America/St_Johns"
    members[0].save()

    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()

    message = _by_recipient(smtp_server)[members[0].email][0]
    text = message.get_body(("plain",)).get_content()
    # 12:00 in Vancouver is 16:30 in St. John's.
    assert "16:30" in text and "St. John's" in text
    assert message["Subject"].startswith("Invitation")
    assert "vous invite" in text
    _part, calendar = _calendar_of(message)
    (event,) = calendar.events
    assert event["LOCATION"] == meeting.video_url
    assert meeting.video_url in str(event["DESCRIPTION"])


def test_invitation_carries_three_answer_links_and_the_chair(world):
    _community, manager, members, meeting = world
    services.chair_confirm(actor=manager, meeting=meeting, now=NOW)
    meeting.refresh_from_db()

    services.invitations_send(actor=manager, meeting=meeting, now=NOW)

    email = Email.objects.get(kind=MailKind.INVITATION, to=members[1].email)
    links = selectors.answer_links(meeting=meeting, user=members[1])
    for link in links.values():
        assert link in email.body and link in email.html
    assert f"Chair: {meeting.chair.display_name}" in email.body
    calendar = Calendar.from_ical(email.alternatives[0]["content"])
    assert meeting.chair.display_name in str(calendar.events[0]["DESCRIPTION"])


def test_sending_again_queues_nothing_more(world):
    _community, manager, _members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    count = Email.objects.count()

    assert services.invitations_send(actor=manager, meeting=meeting, now=NOW) == 0
    assert Email.objects.count() == count


def test_a_change_members_do_not_see_sends_no_update(world):
    _community, manager, _members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    count = Email.objects.count()

    services.meeting_update(actor=manager, meeting=meeting, title=meeting.title, now=NOW)

    assert Email.objects.count() == count


def test_only_managers_send_and_a_refusal_changes_nothing(world):
    _community, _manager, members, meeting = world
    before = db_state(), Email.objects.count()

    with pytest.raises(CommunityActionError) as refused:
        services.invitations_send(actor=members[0], meeting=meeting, now=NOW)

    assert refused.value.forbidden
    assert (db_state(), Email.objects.count()) == before
    assert not Invitation.objects.exists()


def test_a_cancelled_or_started_meeting_sends_no_invitations(world):
    community, manager, _members, meeting = world
    later = meetings_of(community)[1]
    services.meeting_cancel(actor=manager, meeting=later, now=NOW)

    with pytest.raises(services.MeetingError):
        services.invitations_send(actor=manager, meeting=later, now=NOW)
    with pytest.raises(services.MeetingError):
        services.invitations_send(actor=manager, meeting=meeting, now=meeting.starts_at)
    assert not Email.objects.exists()


def test_a_member_who_joins_gets_the_upcoming_invitations_already_sent(
    world_today, django_capture_on_commit_callbacks
):
    community, manager, _members, meeting = world_today
    community.join_policy = JoinPolicy.OPEN
    community.save()
    services.invitations_send(actor=manager, meeting=meeting)
    newcomer = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        community_services.membership_join(user=newcomer, community=community)

    emails = Email.objects.filter(to=newcomer.email)
    assert [(e.kind, e.key) for e in emails] == [(MailKind.INVITATION, f"meeting:{meeting.pk}")]


def test_a_member_who_leaves_gets_the_cancellations_without_status_and_a_rejoiner_a_new_one(
    world_today, django_capture_on_commit_callbacks
):
    community, manager, members, meeting = world_today
    second = meetings_of(community)[1]
    services.invitations_send(actor=manager, meeting=meeting)
    services.invitations_send(actor=manager, meeting=second)
    leaver = members[2]
    sequence_before = Meeting.objects.get(pk=meeting.pk).sequence
    others_before = Email.objects.exclude(to=leaver.email).count()

    with django_capture_on_commit_callbacks(execute=True):
        community_services.membership_leave(user=leaver, community=community)

    cancels = Email.objects.filter(to=leaver.email, kind=MailKind.CANCELLATION)
    assert sorted(e.key for e in cancels) == sorted(
        [f"meeting:{meeting.pk}", f"meeting:{second.pk}"]
    )
    assert Email.objects.exclude(to=leaver.email).count() == others_before
    calendar = Calendar.from_ical(
        cancels.get(key=f"meeting:{meeting.pk}").alternatives[0]["content"]
    )
    (event,) = calendar.events
    assert calendar["METHOD"] == "CANCEL"
    assert "STATUS" not in event  # the meeting goes on: only this attendee is removed
    assert int(event["SEQUENCE"]) > sequence_before
    assert Invitation.objects.get(meeting=meeting, user=leaver).withdrawn

    with django_capture_on_commit_callbacks(execute=True):
        community_services.membership_join(user=leaver, community=community)
    again = Email.objects.filter(
        to=leaver.email, kind=MailKind.INVITATION, key=f"meeting:{meeting.pk}"
    ).order_by("-pk")[0]
    event = Calendar.from_ical(again.alternatives[0]["content"]).events[0]
    assert int(event["SEQUENCE"]) > int(calendar.events[0]["SEQUENCE"])
    assert not Invitation.objects.get(meeting=meeting, user=leaver).withdrawn


def test_a_removed_member_gets_no_update_of_the_chair_change_their_leaving_causes(
    world_today, django_capture_on_commit_callbacks
):
    community, manager, members, meeting = world_today
    services.chair_confirm(actor=manager, meeting=meeting)
    meeting.refresh_from_db()
    services.invitations_send(actor=manager, meeting=meeting)
    chair = meeting.chair
    membership = Membership.objects.get(community=community, user=chair)

    with django_capture_on_commit_callbacks(execute=True):
        community_services.membership_remove(actor=manager, membership=membership)

    kinds = list(Email.objects.filter(to=chair.email).values_list("kind", flat=True))
    assert MailKind.UPDATE not in kinds
    assert MailKind.CANCELLATION in kinds
    meeting.refresh_from_db()
    assert meeting.chair_id != chair.pk
    # Those who stay are told about the new chair.
    stayer = next(u for u in [manager, *members] if u.pk not in (chair.pk,))
    assert Email.objects.filter(to=stayer.email, kind=MailKind.UPDATE).exists()
    assert Membership.objects.get(pk=membership.pk).status == MembershipStatus.REMOVED


def test_series_sends_invitations_by_themselves_days_before(world):
    _community, manager, _members, meeting = world
    series = meeting.series
    services.series_update(
        actor=manager, series=series, invite_automatically=True, invite_days_before=21, now=NOW
    )
    first, second = meetings_of(series)[:2]
    early = first.starts_at - timedelta(days=22)
    due = first.starts_at - timedelta(days=21)

    assert services.invitations_send_due(now=early) == 0
    assert services.invitations_send_due(now=due) == 4
    assert services.invitations_send_due(now=due) == 0  # safe to repeat
    assert services.meetings_maintain(now=due + timedelta(hours=1)).invitations_sent == 0
    assert set(Email.objects.values_list("key", flat=True)) == {f"meeting:{first.pk}"}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.invitations_sent_at == due and second.invitations_sent_at is None


def test_series_refuses_impossible_days_and_changes_nothing(world):
    _community, manager, _members, meeting = world
    before = db_state()
    for days in (0, 366, -3):
        with pytest.raises(services.MeetingError) as refused:
            services.series_update(
                actor=manager, series=meeting.series, invite_days_before=days, now=NOW
            )
        assert refused.value.field == "invite_days_before"
    assert db_state() == before


def test_refused_recipients_are_retried_until_each_has_one_message_of_each_kind(world, smtp_server):
    _community, manager, members, meeting = world
    everyone = [manager, *members]

    def step(action, refused):
        """Do `action` while the server refuses `refused` for a while, then send it all."""
        smtp_server.refused = {user.email for user in refused}
        action()
        outbox_send_due()
        smtp_server.refused = set()
        _send_all()

    step(
        lambda: services.invitations_send(actor=manager, meeting=meeting, now=NOW),
        members[:2],
    )
    step(
        lambda: services.meeting_update(
            actor=manager, meeting=meeting, duration_minutes=90, now=NOW
        ),
        members[1:],
    )
    step(lambda: services.meeting_cancel(actor=manager, meeting=meeting, now=NOW), [manager])

    received = _by_recipient(smtp_server)
    assert sorted(received) == sorted(u.email for u in everyone)
    for user in everyone:
        methods = [str(_calendar_of(m)[1]["METHOD"]) for m in received[user.email]]
        assert sorted(methods) == ["CANCEL", "REQUEST", "REQUEST"], user.email
    ids = [m["Message-ID"] for messages in received.values() for m in messages]
    assert len(ids) == len(set(ids)) == 12
    progress = selectors.meeting_mail_progress(meeting=meeting)
    assert [(row.kind, row.total, row.sent) for row in progress] == [
        (MailKind.INVITATION, 4, 4),
        (MailKind.UPDATE, 4, 4),
        (MailKind.CANCELLATION, 4, 4),
    ]


def test_a_cancellation_replaces_an_invitation_still_waiting_so_it_never_comes_back(
    world, smtp_server
):
    _community, manager, members, meeting = world
    late, failed = members[0], members[1]
    smtp_server.refused = {late.email, failed.email}
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    outbox_send_due()  # refused: waiting for its retry
    Email.objects.filter(to=failed.email).update(state=EmailState.FAILED, last_error="550")

    services.meeting_cancel(actor=manager, meeting=meeting, now=NOW)
    smtp_server.refused = set()
    _send_all()
    # A manager's retry finds nothing: the failed invitation was replaced too.
    assert services.meeting_emails_retry(actor=manager, meeting=meeting) == 0
    _send_all()

    received = _by_recipient(smtp_server)
    for user in (late, failed):
        methods = [str(_calendar_of(m)[1]["METHOD"]) for m in received[user.email]]
        assert methods == ["CANCEL"], user.email
    for user in (manager, members[2]):
        methods = [str(_calendar_of(m)[1]["METHOD"]) for m in received[user.email]]
        assert methods == ["REQUEST", "CANCEL"], user.email
    replaced = Email.objects.filter(state=EmailState.SUPERSEDED)
    assert sorted(replaced.values_list("to", flat=True)) == sorted([late.email, failed.email])
    # The progress counts what was sent and what is still to send, not what was replaced.
    progress = selectors.meeting_mail_progress(meeting=meeting)
    assert [(row.kind, row.total, row.sent) for row in progress] == [
        (MailKind.INVITATION, 2, 2),
        (MailKind.CANCELLATION, 4, 4),
    ]


def test_a_refusal_shows_as_waiting_until_the_outbox_gives_up(world, smtp_server):
    _community, manager, members, meeting = world
    smtp_server.refused = {members[0].email, members[1].email}

    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    outbox_send_due()

    (row,) = selectors.meeting_mail_progress(meeting=meeting)
    assert (row.total, row.sent, row.waiting, row.failed) == (4, 2, 2, 0)


def test_failed_emails_show_their_reason_and_a_manager_retries_them(world, smtp_server):
    _community, manager, members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    Email.objects.filter(to=members[0].email).update(
        state=EmailState.FAILED, last_error="550 5.1.1 No such mailbox here"
    )

    (row,) = selectors.meeting_mail_progress(meeting=meeting)
    assert (row.total, row.failed) == (4, 1)
    assert row.reasons == [("550 5.1.1 No such mailbox here", 1)]

    with pytest.raises(CommunityActionError):
        services.meeting_emails_retry(actor=members[1], meeting=meeting)
    assert services.meeting_emails_retry(actor=manager, meeting=meeting) == 1
    _send_all()
    (row,) = selectors.meeting_mail_progress(meeting=meeting)
    assert (row.total, row.sent, row.failed) == (4, 4, 0)


def test_the_confirmed_chair_gets_the_handover_by_email(world):
    _community, manager, _members, meeting = world

    services.chair_confirm(actor=manager, meeting=meeting, now=NOW)

    meeting.refresh_from_db()
    email = Email.objects.get(kind=MailKind.HANDOVER)
    assert email.to == meeting.chair.email
    assert "Handover" in email.html
    assert "New members to introduce" in email.html
    assert "https://cop.example.ca/c/" in email.html


def _received_events(inbox) -> dict[str, list[tuple[str, int, str]]]:
    """Per recipient, each message's calendar as (METHOD, SEQUENCE, UID), in arrival order."""
    found: dict[str, list[tuple[str, int, str]]] = {}
    for email, messages in _by_recipient(inbox).items():
        for message in messages:
            _part, calendar = _calendar_of(message)
            (event,) = calendar.events
            found.setdefault(email, []).append(
                (str(calendar["METHOD"]), int(event["SEQUENCE"]), str(event["UID"]))
            )
    return found


def test_a_cancelled_meeting_given_back_is_announced_again_to_every_member(world, smtp_server):
    community, manager, members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    # A rule that drops the second Tuesdays cancels the meeting (the series', not a
    # manager's own cancellation, so the series may give it back)...
    services.series_update(
        actor=manager, series=meeting.series, rrule="FREQ=MONTHLY;BYDAY=3TU", now=NOW
    )
    _send_all()
    leaver = members[2]
    Membership.objects.filter(community=community, user=leaver).update(status=MembershipStatus.LEFT)
    newcomer = member_add(community, joined=NOW)

    # ...and the rule changed back gives it again.
    services.series_update(actor=manager, series=meeting.series, rrule=SECOND_TUESDAY, now=NOW)
    _send_all()

    meeting.refresh_from_db()
    assert meeting.status == MeetingStatus.SCHEDULED
    uid = f"meeting-{meeting.pk}@cop.example.ca"
    received = _received_events(smtp_server)
    for user in [manager, *members[:2]]:
        events = received[user.email]
        assert [method for method, _s, _u in events] == ["REQUEST", "CANCEL", "REQUEST"]
        assert {u for _m, _s, u in events} == {uid}
        sequences = [s for _m, s, _u in events]
        assert sequences == sorted(sequences) and len(set(sequences)) == 3, user.email
    assert received[newcomer.email] == [("REQUEST", meeting.sequence, uid)]
    assert [method for method, _s, _u in received[leaver.email]] == ["REQUEST", "CANCEL"]
    assert {(i.user_id, i.sequence, i.withdrawn) for i in meeting.invitations.all()} == {
        *((u.pk, meeting.sequence, False) for u in [manager, *members[:2], newcomer]),
        (leaver.pk, received[leaver.email][-1][1], True),
    }


# Reconciling with the members (the periodic work) ---------------------------------------


def test_reconcile_invites_a_member_whose_joining_was_missed_and_a_second_run_queues_nothing(
    world, smtp_server, django_capture_on_commit_callbacks
):
    community, manager, members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    newcomer = UserFactory()
    # The receivers run after the commit; a crash then loses them: here they never run.
    with django_capture_on_commit_callbacks(execute=False) as lost:
        community_services.membership_join(user=newcomer, community=community)
    assert lost and not Email.objects.filter(to=newcomer.email).exists()

    first = services.invitations_reconcile(now=NOW)
    state, count = db_state(), Email.objects.count()
    second = services.invitations_reconcile(now=NOW)
    _send_all()

    assert first == services.ReconcileResult(invited=1)
    assert second == services.ReconcileResult()
    assert (db_state(), Email.objects.count()) == (state, count)
    meeting.refresh_from_db()
    uid = f"meeting-{meeting.pk}@cop.example.ca"
    received = _received_events(smtp_server)
    assert received[newcomer.email] == [("REQUEST", meeting.sequence, uid)]
    assert {email: len(events) for email, events in received.items()} == {
        user.email: 1 for user in [manager, *members, newcomer]
    }


def test_reconcile_cancels_for_a_member_whose_leaving_was_missed_and_invites_them_back(
    world, smtp_server, django_capture_on_commit_callbacks
):
    community, manager, members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    leaver = members[0]
    sequence_before = Meeting.objects.get(pk=meeting.pk).sequence
    with django_capture_on_commit_callbacks(execute=False) as lost:
        community_services.membership_leave(user=leaver, community=community)
    assert lost

    assert services.invitations_reconcile(now=NOW) == services.ReconcileResult(withdrawn=1)
    assert services.invitations_reconcile(now=NOW) == services.ReconcileResult()
    _send_all()
    with django_capture_on_commit_callbacks(execute=False):
        community_services.membership_join(user=leaver, community=community)
    assert services.invitations_reconcile(now=NOW) == services.ReconcileResult(invited=1)
    _send_all()

    uid = f"meeting-{meeting.pk}@cop.example.ca"
    received = _received_events(smtp_server)
    events = received[leaver.email]
    assert [method for method, _s, _u in events] == ["REQUEST", "CANCEL", "REQUEST"]
    assert {u for _m, _s, u in events} == {uid}
    sequences = [s for _m, s, _u in events]
    assert sequences[0] == sequence_before < sequences[1] < sequences[2]
    cancel = _calendar_of(_by_recipient(smtp_server)[leaver.email][1])[1]
    assert cancel["METHOD"] == "CANCEL"
    (event,) = cancel.events
    assert "STATUS" not in event  # the meeting goes on: only this attendee is removed
    assert all(len(received[u.email]) == 1 for u in [manager, *members[1:]])
    assert not Invitation.objects.get(meeting=meeting, user=leaver).withdrawn


def test_reconcile_cancels_for_an_account_no_longer_active(world, smtp_server):
    _community, manager, members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    closed = members[1]
    type(closed).objects.filter(pk=closed.pk).update(is_active=False)

    assert services.invitations_reconcile(now=NOW) == services.ReconcileResult(withdrawn=1)
    assert services.invitations_reconcile(now=NOW) == services.ReconcileResult()
    _send_all()

    methods = [m for m, _s, _u in _received_events(smtp_server)[closed.email]]
    assert methods == ["REQUEST", "CANCEL"]
    assert Invitation.objects.get(meeting=meeting, user=closed).withdrawn


def test_a_holder_gone_unnoticed_gets_the_cancellation_but_no_update(world, smtp_server):
    """Left (membership ended without the receiver running) or closed account: no update
    of a change, but a cancellation, so the meeting does not stay in their calendar."""
    _community, manager, members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    _send_all()
    left, closed = members[0], members[1]
    Membership.objects.filter(community=meeting.community, user=left).update(
        status=MembershipStatus.REMOVED
    )
    type(closed).objects.filter(pk=closed.pk).update(is_active=False)

    services.meeting_update(actor=manager, meeting=meeting, title="Moved call", now=NOW)
    _send_all()
    services.meeting_cancel(actor=manager, meeting=meeting, now=NOW)
    _send_all()

    received = _received_events(smtp_server)
    for user in (left, closed):
        assert [m for m, _s, _u in received[user.email]] == ["REQUEST", "CANCEL"], user.email
    assert [m for m, _s, _u in received[members[2].email]] == ["REQUEST", "REQUEST", "CANCEL"]
    assert not Invitation.objects.filter(meeting=meeting, withdrawn=False).exists()


def test_reconcile_leaves_started_and_cancelled_meetings_alone(world):
    community, manager, members, first = world
    second, third = meetings_of(first.series)[1:3]
    for meeting in (first, second, third):
        services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    services.meeting_cancel(actor=manager, meeting=third, now=NOW)
    newcomer = member_add(community, joined=NOW)
    Membership.objects.filter(community=community, user=members[0]).update(
        status=MembershipStatus.REMOVED
    )
    during_first = first.starts_at + timedelta(minutes=10)
    before = {m.pk: Meeting.objects.get(pk=m.pk).sequence for m in (first, third)}
    count = Email.objects.count()

    result = services.invitations_reconcile(now=during_first)

    assert result == services.ReconcileResult(invited=1, withdrawn=1)
    assert set(Email.objects.order_by("pk")[count:].values_list("key", "kind", "to")) == {
        (f"meeting:{second.pk}", MailKind.INVITATION, newcomer.email),
        (f"meeting:{second.pk}", MailKind.CANCELLATION, members[0].email),
    }
    assert {m.pk: Meeting.objects.get(pk=m.pk).sequence for m in (first, third)} == before


def test_reconcile_goes_on_past_a_meeting_that_fails(world, caplog, monkeypatch):
    community, manager, _members, first = world
    second = meetings_of(first.series)[1]
    services.invitations_send(actor=manager, meeting=first, now=NOW)
    services.invitations_send(actor=manager, meeting=second, now=NOW)
    newcomer = member_add(community, joined=NOW)
    render = emails.invitation_message

    def broken_for_first(*, meeting, **kwargs):
        if meeting.pk == first.pk:
            raise RuntimeError("cannot render")
        return render(meeting=meeting, **kwargs)

    monkeypatch.setattr(emails, "invitation_message", broken_for_first)

    result = services.invitations_reconcile(now=NOW)

    assert result == services.ReconcileResult(invited=1, failed=1)
    assert list(Email.objects.filter(to=newcomer.email).values_list("key", flat=True)) == [
        f"meeting:{second.pk}"
    ]
    assert list(Invitation.objects.filter(user=newcomer).values_list("meeting", flat=True)) == [
        second.pk
    ]
    assert f"invitations of meeting {first.pk} could not be reconciled" in caplog.text


def test_reconcile_reads_a_meeting_in_the_same_queries_whatever_its_members(world):
    community, manager, _members, meeting = world
    services.invitations_send(actor=manager, meeting=meeting, now=NOW)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert services.invitations_reconcile(now=NOW) == services.ReconcileResult()
        return len(captured)

    few = queries()
    for _ in range(6):
        member_add(community, joined=NOW)
    assert services.invitations_reconcile(now=NOW) == services.ReconcileResult(invited=6)

    assert queries() == few
