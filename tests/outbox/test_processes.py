"""A worker process killed half-way through the outbox, then the sweep: each recipient ends
with exactly one message."""

import collections
import contextlib
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from outbox.enums import EmailState
from outbox.models import Email
from outbox.services import email_enqueue, outbox_send_due
from tests.conftest import database_url_for_tests

ROOT = Path(__file__).resolve().parent.parent.parent


@contextlib.contextmanager
def outbox_worker(settings):
    """`manage.py outbox_send` in its own process, on the test database and SMTP server."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatserver.settings.test",
        "DATABASE_URL": database_url_for_tests(),
        "TEST_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_URL": f"smtp://127.0.0.1:{settings.EMAIL_PORT}",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "outbox_send"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_half_way_then_the_sweep_sends_each_message_once(
    settings, monkeypatch, stalling_smtp
):
    # Rows commit here: the test's own process must not send them at once.
    monkeypatch.setattr("outbox.services._waker", None)
    addresses = [f"member{i:02}@example.org" for i in range(40)]
    for address in addresses:
        email_enqueue(kind="tests.hello", key="meeting:1", to=address, subject="Hi", body="Hi")

    with outbox_worker(settings) as worker:
        assert stalling_smtp.stalled.wait(60)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    stalling_smtp.release.set()

    assert collections.Counter(Email.objects.values_list("state", flat=True)) == {
        EmailState.SENT: 19,
        EmailState.SENDING: 21,
    }
    # Nothing is sent again while the dead worker's lease runs; then the sweep sends the rest.
    assert outbox_send_due() == 0
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1)
    assert outbox_send_due(now=later) == 21

    received = collections.Counter(m["To"] for m in stalling_smtp.messages)
    assert received == dict.fromkeys(addresses, 1)
    assert set(Email.objects.values_list("state", flat=True)) == {EmailState.SENT}
    assert {m["Message-ID"] for m in stalling_smtp.messages} == set(
        Email.objects.values_list("message_id", flat=True)
    )
