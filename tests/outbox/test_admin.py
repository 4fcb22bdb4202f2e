import pytest

from outbox.enums import EmailState
from outbox.models import Email
from outbox.services import email_enqueue
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _email(key: str, state: str) -> Email:
    email = email_enqueue(
        kind="tests.hello", key=key, to=f"{key}@example.org", subject=f"About {key}", body="Hi"
    )
    Email.objects.filter(pk=email.pk).update(state=state, last_error="550 refused")
    return email


def test_admin_lists_filters_and_searches_the_outbox(admin_client):
    _email("alpha", EmailState.FAILED)
    _email("beta", EmailState.SENT)

    everything = admin_client.get("/admin/outbox/email/")
    failed = admin_client.get("/admin/outbox/email/?state__exact=failed")
    found = admin_client.get("/admin/outbox/email/?q=beta")

    assert everything.status_code == 200
    assert [e.key for e in everything.context["cl"].result_list] == ["beta", "alpha"]
    assert [e.key for e in failed.context["cl"].result_list] == ["alpha"]
    assert [e.key for e in found.context["cl"].result_list] == ["beta"]


def test_admin_retry_action_queues_the_selected_failed_emails(
    admin_client, django_capture_on_commit_callbacks, mailoutbox
):
    failed = _email("alpha", EmailState.FAILED)
    sent = _email("beta", EmailState.SENT)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/outbox/email/",
            {"action": "retry_failed", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "1 failed email queued again." in response.content.decode()
    assert Email.objects.get(pk=failed.pk).state == EmailState.SENT
    assert Email.objects.get(pk=sent.pk).state == EmailState.SENT
    assert [m.to for m in mailoutbox] == [["alpha@example.org"]]


def test_admin_outbox_is_read_only(admin_client):
    email = _email("alpha", EmailState.FAILED)

    add = admin_client.get("/admin/outbox/email/add/")
    change = admin_client.post(
        f"/admin/outbox/email/{email.pk}/change/", {"subject": "Changed", "to": "x@example.org"}
    )

    assert add.status_code == 403
    assert Email.objects.get(pk=email.pk).subject == "About alpha"
    assert change.status_code in (200, 302)
