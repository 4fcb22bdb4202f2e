import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from outbox import services
from outbox.enums import EmailState
from outbox.models import Email
from outbox.services import email_enqueue, outbox_claim, outbox_retry, outbox_send_due
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CALENDAR = "text/calendar; method=REQUEST; charset=UTF-8"


def _enqueue(to="person@example.org", **kwargs) -> Email:
    fields = {
        "kind": "tests.hello",
        "key": "thing:1",
        "to": to,
        "subject": "Hello",
        "body": "Hello there.\n",
    }
    return email_enqueue(**(fields | kwargs))


def _reload(email: Email) -> Email:
    return Email.objects.get(pk=email.pk)


def test_email_enqueue_twice_queues_once():
    first = _enqueue()
    second = _enqueue(subject="Hello again")

    assert second.pk == first.pk
    assert Email.objects.count() == 1
    assert _reload(first).subject == "Hello"


def test_email_enqueue_another_version_or_address_is_another_message():
    first = _enqueue()
    _enqueue(version=2)
    _enqueue(to="other@example.org")

    assert Email.objects.count() == 3
    assert first.version == "1"
    assert sorted(Email.objects.values_list("version", "to")) == [
        ("1", "other@example.org"),
        ("1", "person@example.org"),
        ("2", "person@example.org"),
    ]


def test_email_enqueue_fixes_a_message_id_with_the_sites_domain(settings):
    settings.SITE_URL = "https://cop.example.ca"

    email = _enqueue()

    assert email.message_id.startswith("<")
    assert email.message_id.endswith("@cop.example.ca>")
    assert (email.state, email.attempts, email.lease_until) == (EmailState.QUEUED, 0, None)


def test_email_enqueue_in_a_transaction_that_rolls_back_queues_nothing(
    django_capture_on_commit_callbacks, mailoutbox
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _enqueue()
        raise RuntimeError

    assert Email.objects.count() == 0
    assert mailoutbox == []


def test_email_enqueue_sends_after_commit_through_the_task(
    django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        email = _enqueue(html="<p>Hello there.</p>")
        assert mailoutbox == []

    assert [m.to for m in mailoutbox] == [["person@example.org"]]
    assert mailoutbox[0].extra_headers["Message-ID"] == email.message_id
    assert mailoutbox[0].alternatives == [("<p>Hello there.</p>", "text/html")]
    fresh = _reload(email)
    assert (fresh.state, fresh.attempts, fresh.lease_until) == (EmailState.SENT, 1, None)
    assert fresh.sent_at is not None


def test_outbox_send_due_through_smtp_marks_sent_with_the_fixed_message_id(smtp_inbox):
    user = UserFactory(email="person@example.org")
    email = _enqueue(
        recipient=user,
        html="<p>Hello there.</p>",
        alternatives=[{"content": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "mimetype": CALENDAR}],
    )

    assert outbox_send_due() == 1

    [message] = smtp_inbox.messages
    assert message["Message-ID"] == email.message_id
    assert message["To"] == "person@example.org"
    assert message["Subject"] == "Hello"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.get_payload()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    assert message.get_payload()[2].get_param("method") == "REQUEST"
    fresh = _reload(email)
    assert (fresh.state, fresh.attempts, fresh.last_error) == (EmailState.SENT, 1, "")
    assert fresh.recipient == user
    # Sent once: a second run finds nothing due.
    assert outbox_send_due() == 0
    assert len(smtp_inbox.messages) == 1


def test_outbox_send_due_sends_the_attachments_with_the_html_alternative(smtp_inbox):
    ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    email = _enqueue(
        html="<p>Hello there.</p>",
        attachments=[{"filename": "next.ics", "content": ics, "mimetype": "text/calendar"}],
    )

    assert outbox_send_due() == 1

    [message] = smtp_inbox.messages
    assert message.get_content_type() == "multipart/mixed"
    body, attached = message.get_payload()
    assert [p.get_content_type() for p in body.get_payload()] == ["text/plain", "text/html"]
    assert attached.get_content_type() == "text/calendar"
    assert attached.get_filename() == "next.ics"
    assert attached.get_content_disposition() == "attachment"
    assert attached.get_payload(decode=True).decode() == ics
    assert _reload(email).attachments == [
        {"filename": "next.ics", "content": ics, "mimetype": "text/calendar"}
    ]


def test_outbox_a_one_time_link_message_keeps_its_text_until_sent_then_none(smtp_inbox):
    smtp_inbox.refused = {"person@example.org"}
    link = "https://cop.example.org/accounts/reset/abc/secret-token/"
    email = _enqueue(
        body=f"Reset: {link}\n", html=f"<a href='{link}'>Reset</a>", **{"cleared_when_sent": True}
    )
    now = timezone.now()

    # Refused: the text stays, for the next attempt.
    assert outbox_send_due(now=now) == 0
    fresh = _reload(email)
    assert fresh.state == EmailState.QUEUED
    assert link in fresh.body and link in fresh.html

    smtp_inbox.refused = set()
    assert outbox_send_due(now=now + timedelta(hours=2)) == 1

    [message] = smtp_inbox.messages
    assert link in message.get_payload()[0].get_payload(decode=True).decode()
    fresh = _reload(email)
    assert fresh.state == EmailState.SENT
    assert (fresh.body, fresh.html, fresh.alternatives, fresh.attachments) == ("", "", [], [])
    assert (fresh.subject, fresh.to, fresh.message_id) == ("Hello", email.to, email.message_id)


def test_outbox_an_ordinary_message_keeps_its_text_once_sent(smtp_inbox):
    email = _enqueue()

    assert outbox_send_due() == 1

    assert _reload(email).body == "Hello there.\n"


def test_outbox_a_newer_message_of_a_thread_replaces_those_not_sent_yet(smtp_inbox):
    sent = _enqueue(key="thing:0", thread="t:1")
    assert outbox_send_due() == 1
    queued = _enqueue(key="thing:1", thread="t:1")
    failed = _enqueue(key="thing:2", thread="t:1")
    Email.objects.filter(pk=failed.pk).update(state=EmailState.FAILED)
    elsewhere = _enqueue(key="thing:3", thread="t:1", to="other@example.org")
    other_thread = _enqueue(key="thing:4", thread="t:2")

    newest = _enqueue(key="thing:5", thread="t:1")

    states = dict(Email.objects.values_list("key", "state"))
    assert states == {
        "thing:0": EmailState.SENT,
        "thing:1": EmailState.SUPERSEDED,
        "thing:2": EmailState.SUPERSEDED,
        "thing:3": EmailState.QUEUED,
        "thing:4": EmailState.QUEUED,
        "thing:5": EmailState.QUEUED,
    }
    assert outbox_retry(emails=[failed.pk]) == 0
    assert outbox_send_due() == 3
    assert sorted(m["Message-ID"] for m in smtp_inbox.messages) == sorted(
        e.message_id for e in (sent, elsewhere, other_thread, newest)
    )
    assert _reload(queued).state == EmailState.SUPERSEDED


def test_outbox_a_message_refused_while_a_newer_one_was_queued_is_not_retried(smtp_inbox):
    older = _enqueue(key="thing:1", thread="t:1")
    [claimed] = outbox_claim(now=timezone.now())
    # Queued while the older one is out with a worker: the older one still goes.
    newer = _enqueue(key="thing:2", thread="t:1")
    assert _reload(older).state == EmailState.SENDING
    # Its lease runs out and the next worker's server refuses it.
    Email.objects.filter(pk=claimed.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    smtp_inbox.refused = {"person@example.org"}

    assert outbox_send_due() == 0

    assert _reload(older).state == EmailState.SUPERSEDED
    assert _reload(newer).state == EmailState.QUEUED
    smtp_inbox.refused = set()
    assert outbox_send_due(now=timezone.now() + timedelta(hours=2)) == 1
    assert [m["Message-ID"] for m in smtp_inbox.messages] == [newer.message_id]


def test_outbox_a_message_that_cannot_be_built_fails_alone(smtp_inbox, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    before = _enqueue(key="thing:1")
    broken = _enqueue(key="thing:2", subject="Hello\nBcc: everyone@example.org")
    after = _enqueue(key="thing:3")

    assert outbox_send_due() == 2

    assert _reload(before).state == _reload(after).state == EmailState.SENT
    fresh = _reload(broken)
    assert fresh.state == EmailState.FAILED
    assert fresh.last_error.startswith("BadHeaderError:")
    assert len(smtp_inbox.messages) == 2


def test_outbox_a_worker_whose_lease_was_taken_back_does_not_send_it_again(smtp_inbox, settings):
    """One lease covers a worker's batch; before each message the worker renews it, and
    if another worker took the row back meanwhile (this one was stuck past the lease), it
    leaves the row to that worker instead of sending a second copy."""
    settings.OUTBOX_LEASE_SECONDS = 60
    first, second = _enqueue(key="thing:1"), _enqueue(key="thing:2")
    now = timezone.now()
    slow_batch = outbox_claim(now=now)
    assert [row.pk for row in slow_batch] == [first.pk, second.pk]
    # The slow worker sends the first, then is stuck past its lease; another worker
    # takes the second back and sends it.
    assert services.outbox_send_claimed(slow_batch[:1], now=now) == 1
    later = now + timedelta(seconds=61)
    assert outbox_send_due(now=later) == 1

    # The slow worker comes back to the rest of its batch: not its own any more.
    assert services.outbox_send_claimed(slow_batch[1:], now=later) == 0

    assert sorted(m["Message-ID"] for m in smtp_inbox.messages) == sorted(
        [first.message_id, second.message_id]
    )
    assert {_reload(row).state for row in slow_batch} == {EmailState.SENT}


def test_outbox_send_due_refused_recipient_backs_off_then_succeeds(smtp_inbox, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 60
    settings.OUTBOX_RETRY_CAP_SECONDS = 3600
    smtp_inbox.refused = {"refused@example.org"}
    refused = _enqueue(to="refused@example.org")
    accepted = _enqueue(to="accepted@example.org")
    now = timezone.now()

    assert outbox_send_due(now=now) == 1

    fresh = _reload(refused)
    assert (fresh.state, fresh.attempts) == (EmailState.QUEUED, 1)
    assert fresh.last_error.startswith("SMTPRecipientsRefused:")
    assert "No such mailbox here" in fresh.last_error
    assert fresh.next_attempt_at == now + timedelta(seconds=60)
    assert _reload(accepted).state == EmailState.SENT
    assert [m["To"] for m in smtp_inbox.messages] == ["accepted@example.org"]

    # Not due yet: nothing happens. Refused again: the wait doubles.
    assert outbox_send_due(now=now + timedelta(seconds=59)) == 0
    later = now + timedelta(seconds=60)
    assert outbox_send_due(now=later) == 0
    fresh = _reload(refused)
    assert (fresh.state, fresh.attempts) == (EmailState.QUEUED, 2)
    assert fresh.next_attempt_at == later + timedelta(seconds=120)

    smtp_inbox.refused = set()
    assert outbox_send_due(now=later + timedelta(seconds=120)) == 1

    fresh = _reload(refused)
    assert (fresh.state, fresh.attempts) == (EmailState.SENT, 3)
    assert [m["To"] for m in smtp_inbox.messages] == [
        "accepted@example.org",
        "refused@example.org",
    ]
    assert smtp_inbox.messages[1]["Message-ID"] == refused.message_id


def test_outbox_backoff_is_capped(smtp_inbox, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 60
    settings.OUTBOX_RETRY_CAP_SECONDS = 200
    settings.OUTBOX_MAX_ATTEMPTS = 10
    smtp_inbox.refused = {"refused@example.org"}
    email = _enqueue(to="refused@example.org")
    now = timezone.now()
    waits = []

    for _ in range(4):
        outbox_send_due(now=now)
        fresh = _reload(email)
        waits.append((fresh.next_attempt_at - now).total_seconds())
        now = fresh.next_attempt_at

    assert waits == [60, 120, 200, 200]


def test_outbox_max_attempts_fails_and_retry_brings_it_back(smtp_inbox, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    smtp_inbox.refused = {"refused@example.org"}
    email = _enqueue(to="refused@example.org")
    now = timezone.now()
    outbox_send_due(now=now)
    outbox_send_due(now=now + timedelta(hours=2))

    fresh = _reload(email)
    assert (fresh.state, fresh.attempts) == (EmailState.FAILED, 2)
    assert outbox_send_due(now=now + timedelta(days=2)) == 0

    smtp_inbox.refused = set()
    assert outbox_retry(emails=[email.pk]) == 1
    fresh = _reload(email)
    assert (fresh.state, fresh.attempts) == (EmailState.QUEUED, 0)
    assert outbox_send_due() == 1

    assert _reload(email).state == EmailState.SENT
    assert [m["Message-ID"] for m in smtp_inbox.messages] == [email.message_id]


def test_outbox_retry_leaves_messages_that_did_not_fail():
    queued = _enqueue()
    failed = _enqueue(key="thing:2")
    Email.objects.filter(pk=failed.pk).update(state=EmailState.FAILED, attempts=8)

    assert outbox_retry(emails=Email.objects.all()) == 1

    assert _reload(queued).state == EmailState.QUEUED
    assert _reload(failed).state == EmailState.QUEUED


def test_outbox_claim_leases_due_rows_and_not_later_ones(settings):
    settings.OUTBOX_LEASE_SECONDS = 300
    due = _enqueue()
    later = _enqueue(key="thing:2")
    now = timezone.now()
    Email.objects.filter(pk=later.pk).update(next_attempt_at=now + timedelta(minutes=5))

    rows = outbox_claim(now=now, limit=10)

    assert [r.pk for r in rows] == [due.pk]
    fresh = _reload(due)
    assert (fresh.state, fresh.lease_until, fresh.attempts) == (
        EmailState.SENDING,
        now + timedelta(seconds=300),
        1,
    )
    assert outbox_claim(now=now, limit=10) == []


def test_outbox_claim_takes_back_an_expired_lease_not_a_live_one(settings):
    settings.OUTBOX_LEASE_SECONDS = 300
    email = _enqueue()
    now = timezone.now()
    [claimed] = outbox_claim(now=now, limit=10)  # its worker dies here

    assert outbox_claim(now=now + timedelta(seconds=299), limit=10) == []
    [again] = outbox_claim(now=now + timedelta(seconds=300), limit=10)

    assert again.pk == claimed.pk == email.pk
    fresh = _reload(email)
    assert (fresh.state, fresh.attempts) == (EmailState.SENDING, 2)
    assert fresh.lease_until == now + timedelta(seconds=600)


def test_outbox_claim_gives_up_a_message_whose_worker_died_on_every_attempt(settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    settings.OUTBOX_LEASE_SECONDS = 300
    email = _enqueue()
    now = timezone.now()
    outbox_claim(now=now, limit=10)
    outbox_claim(now=now + timedelta(seconds=300), limit=10)

    assert outbox_claim(now=now + timedelta(seconds=600), limit=10) == []

    fresh = _reload(email)
    assert (fresh.state, fresh.attempts, fresh.lease_until) == (EmailState.FAILED, 2, None)
    assert fresh.last_error == "The sending process stopped before recording the outcome."


def test_outbox_send_due_resends_an_expired_lease_with_the_same_message_id(smtp_inbox):
    email = _enqueue()
    now = timezone.now()
    outbox_claim(now=now, limit=10)  # the worker dies before sending (or before recording)

    assert outbox_send_due(now=now + timedelta(seconds=60)) == 0
    assert outbox_send_due(now=now + timedelta(hours=1)) == 1

    assert [m["Message-ID"] for m in smtp_inbox.messages] == [email.message_id]
    assert _reload(email).state == EmailState.SENT


def test_outbox_a_slow_worker_whose_lease_was_taken_records_nothing(smtp_inbox):
    email = _enqueue()
    now = timezone.now()
    [slow] = outbox_claim(now=now, limit=10)
    outbox_send_due(now=now + timedelta(hours=1))  # another worker took it over and sent it

    from outbox.services import _record

    assert _record(slow, state=EmailState.QUEUED, last_error="late") is False
    assert (_reload(email).state, _reload(email).last_error) == (EmailState.SENT, "")


def test_outbox_one_failure_does_not_undo_the_others(smtp_inbox):
    smtp_inbox.refused = {"b@example.org"}
    for to in ["a@example.org", "b@example.org", "c@example.org"]:
        _enqueue(to=to)

    assert outbox_send_due() == 2

    assert dict(Email.objects.values_list("to", "state")) == {
        "a@example.org": EmailState.SENT,
        "b@example.org": EmailState.QUEUED,
        "c@example.org": EmailState.SENT,
    }
    assert sorted(m["To"] for m in smtp_inbox.messages) == ["a@example.org", "c@example.org"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outbox_claim_skips_rows_another_worker_holds(monkeypatch):
    # The rows commit here: without this, the immediate task would send them at once.
    monkeypatch.setattr("outbox.services._waker", None)
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is tested on PostgreSQL (DATABASE_URL=postgres://...)")
    assert connection.features.has_select_for_update_skip_locked
    held = _enqueue(key="thing:1")
    free = _enqueue(key="thing:2")
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                Email.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        rows = outbox_claim(now=timezone.now(), limit=10)
    finally:
        release.set()
        thread.join()

    assert [r.pk for r in rows] == [free.pk]
    assert _reload(held).state == EmailState.QUEUED
