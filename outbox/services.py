"""Every write of the outbox: queue a message, claim what is due, send it, retry.

The outbox row is the truth; the background task only calls `outbox_send_due()`, and the
periodic `outbox_send` command catches up on due retries and expired leases.
"""

import contextlib
import logging
import smtplib
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from email.utils import make_msgid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .enums import EmailState
from .models import Email

logger = logging.getLogger(__name__)

_waker: Callable[[], object] | None = None


def waker_set(waker: Callable[[], object] | None) -> None:
    """What asks the background job to send what is due (set in `OutboxConfig.ready`)."""
    global _waker
    _waker = waker


def _wake() -> None:
    if _waker is None:
        return
    try:
        _waker()
    except Exception:
        # The rows are queued; the periodic sweep sends them if the job cannot be asked.
        logger.exception("could not ask the background job to send the outbox")


def _message_id() -> str:
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return make_msgid(domain=domain)


def email_enqueue(
    *,
    kind: str,
    key: str,
    to: str,
    subject: str,
    body: str,
    version: str | int = "1",
    recipient=None,
    html: str = "",
    alternatives: Iterable[dict] = (),
    attachments: Iterable[dict] = (),
    from_email: str = "",
    thread: str = "",
    cleared_when_sent: bool = False,
) -> Email:
    """Queue one message to one address, once: asking again for the same (kind, key,
    version, to) returns the row already queued (or sent) and changes nothing.
    `attachments`: files sent with it, each {filename, content (text), mimetype}.
    `thread`: only the newest message of a thread to an address counts; queuing this one
    replaces the thread's messages to `to` not sent yet (queued or failed: they are
    superseded, never sent). One being sent at this moment still goes, before this one.
    `cleared_when_sent`: the message carries a one-time link; its text, HTML and parts are
    emptied once it is sent (the row stays, as the record that it went).

    Runs inside the caller's transaction: the message exists only if that commits, and the
    background job is asked to send after the commit (so it sees the row)."""
    version = str(version)
    lookup = {"kind": kind, "key": key, "version": version, "to": to}
    existing = Email.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            email = Email.objects.create(
                **lookup,
                recipient=recipient,
                from_email=from_email,
                subject=subject,
                body=body,
                html=html,
                alternatives=[
                    {"content": a["content"], "mimetype": a["mimetype"]} for a in alternatives
                ],
                attachments=[
                    {
                        "filename": a["filename"],
                        "content": a["content"],
                        "mimetype": a["mimetype"],
                    }
                    for a in attachments
                ],
                thread=thread,
                cleared_when_sent=cleared_when_sent,
                message_id=_message_id(),
                state=EmailState.QUEUED,
                next_attempt_at=now,
                created_at=now,
            )
    except IntegrityError:
        # Another transaction queued the same message meanwhile.
        return Email.objects.get(**lookup)
    if thread:
        Email.objects.filter(
            thread=thread, to=to, state__in=[EmailState.QUEUED, EmailState.FAILED]
        ).exclude(pk=email.pk).update(state=EmailState.SUPERSEDED, lease_until=None, last_error="")
    # Each message asks; the first job to run sends them all, the others find nothing due.
    transaction.on_commit(_wake)
    return email


def outbox_claim(*, now: datetime, limit: int = 100) -> list[Email]:
    """Lease up to `limit` rows due at `now`: queued ones whose time has come and sending
    ones whose lease ran out (their worker died). Concurrent workers claim different rows
    (SKIP LOCKED where the database has it)."""
    lease_until = now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    with transaction.atomic():
        due = Email.objects.filter(
            Q(state=EmailState.QUEUED, next_attempt_at__lte=now)
            | Q(state=EmailState.SENDING, lease_until__lte=now)
        ).order_by("next_attempt_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        else:
            due = due.select_for_update()
        rows = list(due[:limit])
        # A message whose worker died on each of its attempts is given up, not retried
        # for ever (the last death may have come after the server took it).
        spent = [
            row
            for row in rows
            if row.state == EmailState.SENDING and row.attempts >= settings.OUTBOX_MAX_ATTEMPTS
        ]
        for row in spent:
            row.state = EmailState.FAILED
            row.lease_until = None
            row.last_error = "The sending process stopped before recording the outcome."
        rows = [row for row in rows if row not in spent]
        for row in rows:
            row.state = EmailState.SENDING
            row.lease_until = lease_until
            row.attempts += 1
        Email.objects.bulk_update(rows + spent, ["state", "lease_until", "attempts", "last_error"])
    return rows


def _backoff(attempts: int) -> timedelta:
    seconds = min(
        settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0),
        settings.OUTBOX_RETRY_CAP_SECONDS,
    )
    return timedelta(seconds=seconds)


def _message(email: Email, mail_connection) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body,
        from_email=email.from_email or None,
        to=[email.to],
        headers={"Message-ID": email.message_id},
        connection=mail_connection,
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    for part in email.alternatives:
        message.attach_alternative(part["content"], part["mimetype"])
    for part in email.attachments:
        message.attach(part["filename"], part["content"], part["mimetype"])
    return message


# What a sent message carrying a one-time link keeps of its content: nothing.
_CLEARED = {"body": "", "html": "", "alternatives": [], "attachments": []}


def _record(email: Email, **fields) -> bool:
    # Only the holder of the lease records the outcome: a worker that was too slow and
    # whose row another worker claimed again changes nothing.
    return bool(
        Email.objects.filter(
            pk=email.pk, state=EmailState.SENDING, lease_until=email.lease_until
        ).update(lease_until=None, **fields)
    )


def _superseded(email: Email) -> bool:
    return bool(email.thread) and (
        Email.objects.filter(thread=email.thread, to=email.to, pk__gt=email.pk).exists()
    )


def _lease_renew(email: Email, now: datetime | None) -> bool:
    """Just before sending: the lease runs from now again, if this worker still holds it.
    A batch's lease is counted from its claim; renewing it per message means only a worker
    stuck in one send longer than a lease (`EMAIL_TIMEOUT` keeps a send shorter) can lose
    a row it is sending."""
    lease_until = (now or timezone.now()) + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    held = Email.objects.filter(
        pk=email.pk, state=EmailState.SENDING, lease_until=email.lease_until
    ).update(lease_until=lease_until)
    if held:
        email.lease_until = lease_until
    return bool(held)


def outbox_send_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send every message due at `now` with the configured email backend, recording each
    outcome in its own transaction. Returns how many were sent. Must not run inside a
    transaction that could roll back what it records."""
    sent = 0
    while True:
        moment = now or timezone.now()
        rows = outbox_claim(now=moment, limit=limit)
        if not rows:
            return sent
        sent += outbox_send_claimed(rows, now=now)
        if len(rows) < limit:
            return sent


def outbox_send_claimed(rows: list[Email], *, now: datetime | None = None) -> int:
    """Send rows this worker claimed (`outbox_claim`), over one connection, each only if
    this worker still holds its lease just before sending it. Returns how many were sent."""
    moment = now or timezone.now()
    sent = 0
    mail_connection = get_connection()
    with contextlib.suppress(smtplib.SMTPException, OSError):
        # One connection for the batch; if the server cannot be reached, each message
        # tries again and records why.
        mail_connection.open()
    for email in rows:
        if not _lease_renew(email, now):
            continue  # taken back meanwhile (this worker was too slow): not ours now
        try:
            _message(email, mail_connection).send()
        except Exception as exc:  # recorded on the row; the others go on
            failed = email.attempts >= settings.OUTBOX_MAX_ATTEMPTS
            if _superseded(email):
                state = EmailState.SUPERSEDED  # a newer one was queued while it went
            else:
                state = EmailState.FAILED if failed else EmailState.QUEUED
            _record(
                email,
                state=state,
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
                next_attempt_at=moment + _backoff(email.attempts),
            )
            if isinstance(exc, smtplib.SMTPException | OSError):
                logger.warning("could not send email %s (%s): %s", email.pk, email.kind, exc)
            else:  # not the server's doing: a message that cannot be built, say
                logger.exception("could not send email %s (%s)", email.pk, email.kind)
            # The server may have dropped us: the next message opens a new connection.
            mail_connection.close()
        else:
            _record(
                email,
                state=EmailState.SENT,
                sent_at=timezone.now(),
                last_error="",
                **(_CLEARED if email.cleared_when_sent else {}),
            )
            sent += 1
    mail_connection.close()
    return sent


def outbox_retry(*, emails: QuerySet[Email] | Iterable[int]) -> int:
    """Queue failed messages again, due now, with a fresh count of attempts. Returns how
    many. The caller has checked who may ask (staff, the community's managers)."""
    if not isinstance(emails, QuerySet):
        emails = Email.objects.filter(pk__in=list(emails))
    count = emails.filter(state=EmailState.FAILED).update(
        state=EmailState.QUEUED, attempts=0, next_attempt_at=timezone.now(), lease_until=None
    )
    if count:
        transaction.on_commit(_wake)
    return count
