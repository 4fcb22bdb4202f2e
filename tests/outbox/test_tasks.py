import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from outbox.enums import EmailState
from outbox.models import Email
from outbox.services import email_enqueue
from outbox.tasks import outbox_send

# The worker closes and reopens database connections: the rows must really be committed.
pytestmark = pytest.mark.django_db(transaction=True)

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def test_with_the_database_backend_the_worker_sends_what_was_queued(settings, mailoutbox):
    settings.TASKS = DATABASE_TASKS

    email = email_enqueue(kind="tests.hello", key="a", to="a@example.org", subject="A", body="A")

    assert mailoutbox == []
    assert Email.objects.get(pk=email.pk).state == EmailState.QUEUED
    [job] = DBTaskResult.objects.all()
    assert job.task_path == "outbox.tasks.outbox_send"

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    assert [m.to for m in mailoutbox] == [["a@example.org"]]
    assert Email.objects.get(pk=email.pk).state == EmailState.SENT
    # The outbox is the truth: the same job run again sends nothing more.
    assert outbox_send.call() == 0
    assert len(mailoutbox) == 1
