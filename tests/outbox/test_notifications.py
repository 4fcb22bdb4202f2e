"""The product's emails go through the outbox: one row per message, asked twice, queued once."""

import pytest

from accounts.notifications import email_user_on_commit, emails_suppressed
from communities import services as community_services
from communities.enums import Role
from outbox.enums import EmailState
from outbox.models import Email
from tests.factories import MembershipFactory, PendingMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_email_user_on_commit_asked_twice_queues_and_sends_once(
    django_capture_on_commit_callbacks, mailoutbox
):
    user = UserFactory(email="personne@example.org", display_name="Dre Roy", language="fr")
    manager = MembershipFactory(role=Role.MANAGER, community__name="Urgences rurales")
    community = manager.community

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            email_user_on_commit(
                user=user,
                template="communities/email/request_approved",
                context={"community": community},
                key="membership:7",
            )

    [row] = Email.objects.all()
    assert (row.kind, row.key, row.version, row.to, row.recipient) == (
        "communities/email/request_approved",
        "membership:7",
        "1",
        "personne@example.org",
        user,
    )
    assert row.state == EmailState.SENT
    assert row.body.splitlines()[0] == "Bonjour Dre Roy,"
    assert [m.to for m in mailoutbox] == [["personne@example.org"]]
    assert mailoutbox[0].extra_headers["Message-ID"] == row.message_id


def test_emails_suppressed_queues_nothing(django_capture_on_commit_callbacks, mailoutbox):
    user = UserFactory()
    community = MembershipFactory(role=Role.MANAGER).community

    with django_capture_on_commit_callbacks(execute=True), emails_suppressed():
        email_user_on_commit(
            user=user,
            template="communities/email/request_approved",
            context={"community": community},
            key="membership:7",
        )

    assert Email.objects.count() == 0
    assert mailoutbox == []


def test_request_decision_is_one_row_keyed_by_the_membership(
    django_capture_on_commit_callbacks, mailoutbox
):
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy="request")
    pending = PendingMembershipFactory(community=manager.community)

    with django_capture_on_commit_callbacks(execute=True):
        community_services.membership_request_decide(
            actor=manager.user, membership=pending, approve=True
        )

    row = Email.objects.get(kind="communities/email/request_approved")
    assert (row.key, row.to, row.state) == (
        f"membership:{pending.pk}",
        pending.user.email,
        EmailState.SENT,
    )
    assert [m.to for m in mailoutbox] == [[pending.user.email]]


def test_password_reset_is_queued_once_per_link(
    client, django_capture_on_commit_callbacks, mailoutbox
):
    UserFactory(email="person@example.org")

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/password_reset/", {"email": "person@example.org"})

    [row] = Email.objects.all()
    assert (row.kind, row.to, row.state) == (
        "accounts/password_reset",
        "person@example.org",
        EmailState.SENT,
    )
    assert row.key.startswith(f"user:{row.recipient_id}:")
    assert [m.subject for m in mailoutbox] == ["Choose a new password"]
