"""minutes.services.minutes_distribute end to end: a meeting run through the agendas'
services, ended, drafted, approved (set directly: approval is another part), distributed
through a real SMTP server to a dozen members — each once, in their language, with the
links and the next meeting's .ics; asked twice, queued once; a worker killed with SIGKILL
half-way and started again; failures shown with their reason and retried."""

import collections
import os
import signal
import time
from datetime import timedelta
from email.header import decode_header, make_header
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from communities.enums import JoinPolicy
from communities.services import CommunityActionError
from meetings import selectors as meeting_selectors
from meetings.selectors import meeting_following
from minutes import selectors, services
from minutes.enums import MailKind, MinutesStatus
from minutes.models import Minutes, MinutesRevision
from outbox.enums import EmailState
from outbox.models import Email
from outbox.services import outbox_send_due
from rooms.enums import MessageKind
from rooms.models import Message
from tests.mail import Stalling, smtp_serving
from tests.meetings.helpers import NOW, member_add
from tests.minutes.helpers import meeting_end, minutes_state, run_until_end, sections, world
from tests.outbox.test_processes import outbox_worker

RECORDING = "https://video.example.org/recordings/feb"
HOSTILE = (
    "## Hostile\n\n"
    "<script>alert(1)</script>\n\n"
    '<img src="x" onerror="alert(1)">\n\n'
    "[click me](javascript:alert(1)) and [fine](https://example.org/ok)\n"
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SITE_URL = "https://cop.example.ca"


@pytest.fixture(autouse=True)
def _no_waker(monkeypatch):
    # Sending is the test's to start (explicitly, or in a worker process).
    monkeypatch.setattr("outbox.services._waker", None)


def _ended(django_capture_on_commit_callbacks=None):
    """The February meeting, run, ended and drafted; a dozen active members in all
    (the manager, A, B, C, the newcomer and seven more), four of them French."""
    w = world(join_policy=JoinPolicy.INVITATION)
    run_until_end(w)
    if django_capture_on_commit_callbacks is not None:
        with django_capture_on_commit_callbacks(execute=True):
            meeting_end(w)
    else:
        meeting_end(w)
    extra = [member_add(w.community, joined=NOW - timedelta(days=300)) for _ in range(7)]
    for user in [w.users[2], *extra[:3]]:
        user.language = "fr"
        user.timezone = "America/St_Johns"
        user.save(update_fields=["language", "timezone"])
    w.members = [w.manager, *w.users, w.newcomer, *extra]
    w.minutes = Minutes.objects.get(meeting=w.meeting)
    return w


def _approve(w, body: str | None = None) -> MinutesRevision:
    """The chair approves the draft (edited to `body` first, if given), through the
    services as on the minutes page."""
    if body is not None:
        services.minutes_draft_edit(actor=w.chair, meeting=w.meeting, body=body, now=NOW)
    return services.minutes_approve(actor=w.chair, minutes=w.minutes, now=NOW)


def _materials(w):
    services.minutes_recording_set(actor=w.manager, minutes=w.minutes, url=RECORDING)
    upload = SimpleUploadedFile("slides.pdf", b"%PDF-1.4\n%slides\n", "application/pdf")
    return services.attachment_add(
        actor=w.manager, meeting=w.meeting, upload=upload, title="Focus slides"
    )


def _parts(message):
    """(text, html, [attachments]) of a multipart/mixed message."""
    body, *files = message.get_payload()
    text, html = (part.get_payload(decode=True).decode() for part in body.get_payload())
    return text, html, files


def _subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _room_messages(w):
    return list(
        Message.objects.filter(room__community=w.community, kind=MessageKind.SYSTEM)
        .filter(body__contains="minutes")
        .values_list("body", flat=True)
    )


# End to end ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_distribute_sends_each_member_one_message_in_their_language(
    django_capture_on_commit_callbacks, smtp_server
):
    w = _ended(django_capture_on_commit_callbacks)
    # The draft the run wrote, item by item (test_services checks each part in full).
    parts = sections(w.minutes.revisions.get().body)
    assert [heading for heading in parts if heading[:1].isdigit()] == [
        "1. New members introduction",
        "2. Current progress / initiatives roundtable",
        "3. Focus presentation",
        "4. Open discussion",
        "5. Future agenda and next meeting",
    ]
    assert "- Newcomer" in parts["1. New members introduction"]
    roundtable = parts["2. Current progress / initiatives roundtable"]
    assert "We started a shared triage list" in roundtable
    assert "clinic is closing" not in roundtable  # not for the minutes
    assert "Rotate night shifts *forward*." in parts["3. Focus presentation"]
    assert parts["Decisions"].startswith("- Share the triage list.")
    assert "Send the triage list to everyone — Member B" in parts["Action items"]
    attachment = _materials(w)
    revision = _approve(w)
    following = meeting_following(meeting=w.meeting)

    queued = services.minutes_distribute(actor=w.chair, minutes=w.minutes)
    sent = outbox_send_due()

    assert (queued, sent) == (12, 12)
    by_address = collections.Counter(m["To"] for m in smtp_server.messages)
    assert by_address == {user.email: 1 for user in w.members}
    minutes_url = (
        f"https://cop.example.ca/c/{w.community.slug}/meetings/{w.meeting.pk}/minutes/distributed/"
    )
    file_url = (
        f"https://cop.example.ca/c/{w.community.slug}/meetings/{w.meeting.pk}"
        f"/files/{attachment.pk}/"
    )
    french = {u.email for u in w.members if u.language == "fr"}
    assert len(french) == 4
    for message in smtp_server.messages:
        text, html, files = _parts(message)
        is_french = message["To"] in french
        assert _subject(message) == (
            "Procès-verbal : Monthly call, 10 février 2026"
            if is_french
            else "Minutes: Monthly call, Feb. 10, 2026"
        )
        assert f'<html lang="{"fr" if is_french else "en"}">' in html
        for link in (minutes_url, file_url, RECORDING):
            assert link in text
            assert f'href="{link}"' in html
        assert "Rotate night shifts <em>forward</em>." in html  # the minutes, rendered
        assert "Rotate night shifts *forward*." in text  # and as written
        [ics] = files
        assert ics.get_content_type() == "text/calendar"
        assert ics.get_filename() == f"meeting-{following.pk}.ics"
        calendar = ics.get_payload(decode=True).decode()
        assert f"UID:meeting-{following.pk}@cop.example.ca" in calendar
        assert "METHOD" not in calendar
    # The next meeting's time in each member's own zone (Newfoundland: UTC-2:30 in March).
    [french_text] = [_parts(m)[0] for m in smtp_server.messages if m["To"] == w.users[2].email]
    assert "Prochaine rencontre : 10 mars 2026 16:30 (heure de St. John's)" in french_text
    revision.refresh_from_db()
    assert revision.status == MinutesStatus.DISTRIBUTED
    assert revision.distributed_at is not None
    assert _room_messages(w) == [
        f"The minutes of “Monthly call” (Feb. 10, 2026) are out: {minutes_url}"
    ]
    [row] = selectors.minutes_mail_progress(minutes=w.minutes)
    assert (row.label, row.total, row.sent, row.failed, row.waiting) == (
        "Minutes, revision 1",
        12,
        12,
        0,
        0,
    )


@pytest.mark.django_db
def test_distribute_twice_queues_nothing_new(django_capture_on_commit_callbacks, smtp_server):
    w = _ended(django_capture_on_commit_callbacks)
    _approve(w)
    services.minutes_distribute(actor=w.manager, minutes=w.minutes)
    outbox_send_due()
    emails = list(Email.objects.order_by("pk").values())

    again = services.minutes_distribute(actor=w.manager, minutes=w.minutes)

    assert again == 0
    assert list(Email.objects.order_by("pk").values()) == emails
    assert outbox_send_due() == 0
    assert len(smtp_server.messages) == 12
    assert len(_room_messages(w)) == 1


@pytest.mark.django_db
def test_distribute_a_member_who_joined_since_gets_theirs_only(django_capture_on_commit_callbacks):
    w = _ended(django_capture_on_commit_callbacks)
    _approve(w)
    services.minutes_distribute(actor=w.manager, minutes=w.minutes)
    late = member_add(w.community, joined=NOW)

    assert services.minutes_distribute(actor=w.manager, minutes=w.minutes) == 1
    assert selectors.minutes_emails(minutes=w.minutes).filter(to=late.email).count() == 1


@pytest.mark.django_db
def test_the_emails_html_is_inert(django_capture_on_commit_callbacks, mailoutbox):
    w = _ended(django_capture_on_commit_callbacks)
    _approve(w, body=w.minutes.revisions.get().body + "\n" + HOSTILE)

    services.minutes_distribute(actor=w.chair, minutes=w.minutes)
    outbox_send_due()

    for email in Email.objects.filter(kind=MailKind.MINUTES):
        parser = _Tags()
        parser.feed(email.html)
        tags = parser.tags
        assert "script" not in {tag for tag, _attrs in tags}
        assert "img" not in {tag for tag, _attrs in tags}
        assert [name for _tag, attrs in tags for name in attrs if name.startswith("on")] == []
        hrefs = [attrs.get("href", "") for tag, attrs in tags if tag == "a"]
        assert "https://example.org/ok" in hrefs
        assert [h for h in hrefs if not h.startswith(("https://", "http://"))] == []
    assert len(mailoutbox) == 12


# Refusals --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_distribute_a_draft_is_refused_and_changes_nothing(django_capture_on_commit_callbacks):
    w = _ended(django_capture_on_commit_callbacks)
    before = (minutes_state(), _room_messages(w))

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_distribute(actor=w.manager, minutes=w.minutes)

    assert refused.value.code == "not_approved"
    assert str(refused.value.message) == (
        "These minutes are a draft: they must be approved before they are distributed."
    )
    assert (minutes_state(), _room_messages(w)) == before
    assert Email.objects.filter(kind=MailKind.MINUTES).count() == 0


@pytest.mark.django_db
def test_distribute_by_a_member_who_is_not_the_chair_is_forbidden(
    django_capture_on_commit_callbacks,
):
    w = _ended(django_capture_on_commit_callbacks)
    _approve(w)
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_distribute(actor=w.backup, minutes=w.minutes)

    assert (refused.value.code, refused.value.forbidden) == ("not_distributor", True)
    assert minutes_state() == before
    assert Email.objects.filter(kind=MailKind.MINUTES).count() == 0


# Failures: shown with the reason, retried -------------------------------------------------


@pytest.mark.django_db
def test_a_failure_is_shown_with_its_reason_and_retried(
    django_capture_on_commit_callbacks, smtp_server, settings, client
):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    w = _ended(django_capture_on_commit_callbacks)
    _approve(w)
    refused = w.users[2].email
    smtp_server.refused = {refused}
    services.minutes_distribute(actor=w.manager, minutes=w.minutes)
    outbox_send_due()

    [row] = selectors.minutes_mail_progress(minutes=w.minutes)
    assert (row.total, row.sent, row.failed, row.waiting) == (12, 11, 1, 0)
    [(reason, count)] = row.reasons
    assert count == 1
    assert reason.startswith("SMTPRecipientsRefused:") and "550" in reason
    client.force_login(w.manager)
    page = client.get(reverse("minutes:distribution", args=[w.community.slug, w.meeting.pk]))
    assert page.status_code == 200
    assert "sent 11 of 12, 1 failed" in page.text
    assert "No such mailbox here" in page.text

    with pytest.raises(CommunityActionError):
        services.minutes_emails_retry(actor=w.chair, minutes=w.minutes)
    smtp_server.refused = set()
    response = client.post(
        reverse("minutes:emails_retry", args=[w.community.slug, w.meeting.pk]), follow=True
    )
    assert "1 email will be tried again now." in response.text
    assert outbox_send_due() == 1

    [row] = selectors.minutes_mail_progress(minutes=w.minutes)
    assert (row.total, row.sent, row.failed) == (12, 12, 0)
    assert collections.Counter(m["To"] for m in smtp_server.messages)[refused] == 1


@pytest.mark.django_db
def test_the_distribution_page_is_for_the_chair_and_managers(
    django_capture_on_commit_callbacks, client
):
    w = _ended(django_capture_on_commit_callbacks)
    _approve(w)
    page = reverse("minutes:distribution", args=[w.community.slug, w.meeting.pk])

    client.force_login(w.backup)
    assert client.get(page).status_code == 403
    distribute = reverse("minutes:distribute", args=[w.community.slug, w.meeting.pk])
    assert client.post(distribute).status_code == 403
    client.force_login(w.chair)
    assert client.get(page).status_code == 200
    response = client.post(distribute, follow=True)
    assert "The minutes are on their way to 12 members." in response.text
    read = client.get(reverse("minutes:distributed", args=[w.community.slug, w.meeting.pk]))
    assert read.status_code == 200
    assert "Rotate night shifts <em>forward</em>." in read.text


# A worker killed half-way ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_half_way_then_started_again_sends_each_member_one(settings, monkeypatch):
    # Short leases: the second worker takes over the dead one's rows a moment later.
    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "1")
    with smtp_serving(settings, Stalling(at=5)) as inbox:
        try:
            w = _ended()  # transaction=True: the ending's callbacks run, and draft it
            _approve(w)
            # Only the minutes are sent here: whatever else the setup queued is done.
            Email.objects.update(state=EmailState.SENT)
            assert services.minutes_distribute(actor=w.manager, minutes=w.minutes) == 12

            with outbox_worker(settings) as worker:
                assert inbox.stalled.wait(60)
                # Between sends: four recorded sent, the fifth held by the server.
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(10)
            inbox.release.set()
            emails = selectors.minutes_emails(minutes=w.minutes)
            assert collections.Counter(emails.values_list("state", flat=True)) == {
                EmailState.SENT: 4,
                EmailState.SENDING: 8,
            }

            time.sleep(1.5)  # the dead worker's leases run out
            with outbox_worker(settings) as worker:
                assert worker.wait(60) == 0
        finally:
            inbox.release.set()

    received = collections.Counter(m["To"] for m in inbox.messages)
    assert received == {user.email: 1 for user in w.members}
    assert set(emails.values_list("state", flat=True)) == {EmailState.SENT}
    assert {m["Message-ID"] for m in inbox.messages} == set(
        emails.values_list("message_id", flat=True)
    )
    assert meeting_selectors.calendar_host() == "cop.example.ca"
