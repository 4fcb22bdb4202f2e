"""A meeting's invitations sent by the real background worker (`manage.py db_worker`, the
Procfile's `worker`) in its own process, killed with SIGKILL half-way, then started again
beside the Procfile's `maintain` sweep (`manage.py outbox_send`): each member has exactly
one invitation."""

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from icalendar import Calendar

from meetings import services
from meetings.enums import MailKind
from meetings.selectors import mail_key
from outbox.enums import EmailState
from outbox.models import Email
from tests.conftest import database_url_for_tests
from tests.meetings.helpers import community_with, meetings_of, series_make

ROOT = Path(__file__).resolve().parent.parent.parent
SITE = "https://cop.example.ca"
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Long enough for the restarted worker to be up before the dead worker's lease runs out,
# short enough to wait for.
LEASE_SECONDS = 5
WORKER = ("db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1")
WAIT_SECONDS = 20


@pytest.fixture
def world(settings, transactional_db):
    """A manager and 39 members (40 active members) and the series' next meeting, made
    before any SMTP server listens: whatever building it sends goes to the test's
    locmem outbox, not to the server the worker uses."""
    settings.SITE_URL = SITE
    now = timezone.now()
    community, manager, members = community_with(
        39, contact_email="staff@cop.example.ca", joined=now - timedelta(days=400)
    )
    series = series_make(community, manager, first_date=now.date(), now=now)
    meeting = next(m for m in meetings_of(series) if m.starts_at > now + timedelta(hours=1))
    return manager, [manager, *members], meeting


def _production_env(settings) -> dict:
    """The environment of the Procfile's processes, on the test database and SMTP server:
    the production settings (the test settings run every job at once, in the process that
    asks), jobs in the database, a short lease."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatserver.settings.base",
        "DEBUG": "false",
        "DATABASE_URL": database_url_for_tests(),
        "TASKS_BACKEND": "database",
        "EMAIL_URL": f"smtp://127.0.0.1:{settings.EMAIL_PORT}",
        "SITE_URL": SITE,
        "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


@contextlib.contextmanager
def _manage(log: Path, env: dict, *args: str):
    """`manage.py <args>` in its own process, output to `log`; killed on the way out if it
    still runs, and the end of its log printed (pytest shows it when the test fails)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            print(f"---- {log.name} ----", *log.read_text().splitlines()[-30:], sep="\n")


def _wait_until(condition, what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting {timeout} s for {what}"
        time.sleep(0.05)


def _states(rows) -> collections.Counter:
    return collections.Counter(rows.values_list("state", flat=True))


def test_invitations_worker_killed_half_way_then_restarted_each_member_has_one(
    settings, world, stalling_smtp, tmp_path
):
    """django-tasks never runs a job again whose worker was killed: it stays `running`.
    The outbox is what recovers. The dead worker's rows are leased; once the lease runs
    out, the Procfile's `maintain` sweep (`outbox_send`) sends what is missing, as would a
    job still queued that runs after the lease (one is queued per message): whichever
    claims a row first sends it, and only once."""
    manager, members, meeting = world
    settings.TASKS = DATABASE_TASKS
    env = _production_env(settings)

    # Only stored here: the job waits in the database for a worker.
    assert services.invitations_send(actor=manager, meeting=meeting) == 40
    rows = Email.objects.filter(kind=MailKind.INVITATION, key=mail_key(meeting))
    assert _states(rows) == {EmailState.QUEUED: 40}
    assert set(DBTaskResult.objects.values_list("task_path", flat=True)) == {
        "outbox.tasks.outbox_send"
    }
    assert stalling_smtp.seen == 0

    with contextlib.ExitStack() as processes:
        first = processes.enter_context(_manage(tmp_path / "worker-1.log", env, *WORKER))
        assert stalling_smtp.stalled.wait(WAIT_SECONDS), "the worker sent no 20th message"
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        stalling_smtp.release.set()

        assert _states(rows) == {EmailState.SENT: 19, EmailState.SENDING: 21}
        [killed_job] = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING)

        again = processes.enter_context(_manage(tmp_path / "worker-2.log", env, *WORKER))
        _wait_until(
            lambda: not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists(),
            "the restarted worker to run the jobs still queued",
        )
        # Then the Procfile's `maintain`, once the dead worker's lease has run out.
        leases = rows.filter(state=EmailState.SENDING).values_list("lease_until", flat=True)
        lease_end = max(leases, default=timezone.now())
        time.sleep(max((lease_end - timezone.now()).total_seconds() + 0.2, 0))
        sweep = subprocess.run(
            [sys.executable, "manage.py", "outbox_send"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            check=True,
        )
        _wait_until(lambda: rows.filter(state=EmailState.SENT).count() == 40, "all 40 sent")

        again.send_signal(signal.SIGTERM)
        assert again.wait(10) == 0

    swept = int(sweep.stdout.removesuffix(" sent\n"))
    jobs = DBTaskResult.objects.exclude(pk=killed_job.pk)
    assert set(jobs.values_list("status", flat=True)) == {TaskResultStatus.SUCCESSFUL}
    assert swept + sum(jobs.values_list("return_value", flat=True)) == 21
    assert DBTaskResult.objects.get(pk=killed_job.pk).status == TaskResultStatus.RUNNING

    # The message refused (451) while its worker was being killed arrived once, later.
    received = [
        message_from_bytes(m.as_bytes(), policy=policy.default) for m in stalling_smtp.messages
    ]
    assert collections.Counter(m["To"] for m in received) == {user.email: 1 for user in members}
    assert _states(rows) == {EmailState.SENT: 40}
    by_address = {row.to: row for row in rows}
    for message in received:
        row = by_address[message["To"]]
        assert message["Message-ID"] == row.message_id
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        assert part.get_param("method") == "REQUEST"
        calendar = Calendar.from_ical(part.get_content())
        assert calendar["METHOD"] == "REQUEST"
        [event] = calendar.events
        assert str(event["UID"]) == f"meeting-{meeting.pk}@cop.example.ca"
        assert str(event["ATTENDEE"]) == f"mailto:{row.to}"
