from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from outbox.enums import EmailState
from outbox.models import Email
from outbox.services import email_enqueue

pytestmark = pytest.mark.django_db


def test_outbox_send_command_sends_what_is_due_once(mailoutbox):
    due = email_enqueue(kind="tests.hello", key="a", to="a@example.org", subject="A", body="A")
    later = email_enqueue(kind="tests.hello", key="b", to="b@example.org", subject="B", body="B")
    Email.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    out = StringIO()

    call_command("outbox_send", stdout=out)
    call_command("outbox_send", stdout=out)

    assert out.getvalue() == "1 sent\n0 sent\n"
    assert [m.to for m in mailoutbox] == [["a@example.org"]]
    assert Email.objects.get(pk=due.pk).state == EmailState.SENT
    assert Email.objects.get(pk=later.pk).state == EmailState.QUEUED
