"""A manager sends a meeting's invitations in Chromium against the real server, which sends
through a real SMTP server (aiosmtpd on loopback): the page says how far it got ("sent 3 of
4"), a failure shows with its reason and is retried from the page, and every member ends
with exactly one invitation."""

from datetime import time, timedelta
from email import message_from_bytes, policy

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from communities.enums import JoinPolicy, Role
from meetings import services
from outbox.enums import EmailState
from outbox.models import Email
from tests.browser.pages import blocking_violations, sign_in
from tests.conftest import database_url_for_tests, run_daphne
from tests.factories import CommunityFactory, MembershipFactory, UserFactory
from tests.mail import Inbox, smtp_serving

pytestmark = pytest.mark.browser


@pytest.fixture
def mail_and_server(transactional_db, settings, tmp_path):
    """The real server, sending its email to our SMTP server."""
    with smtp_serving(settings, Inbox()) as inbox:
        email_url = f"smtp://127.0.0.1:{settings.EMAIL_PORT}"
        with run_daphne(
            tmp_path / "daphne.log",
            DATABASE_URL=database_url_for_tests(),
            EMAIL_URL=email_url,
            TEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        ) as base:
            yield inbox, base


def test_manager_sends_invitations_sees_progress_and_retries_a_failure(mail_and_server, chromium):
    inbox, base = mail_and_server
    community = CommunityFactory(
        name="Rural Family Medicine",
        slug="rural",
        join_policy=JoinPolicy.OPEN,
        timezone="America/Toronto",
        video_url="https://video.example.org/rural",
        contact_email="staff@rural.example.ca",
    )
    manager = MembershipFactory(
        community=community, role=Role.MANAGER, user__display_name="Dr. Manager"
    ).user
    members = [
        MembershipFactory(community=community, user__display_name=f"Dr. {name}").user
        for name in ("Lee", "Roy", "Tremblay")
    ]
    meeting = services.meeting_create(
        actor=UserFactory(is_staff=True),
        community=community,
        title="Monthly call",
        day=(timezone.now() + timedelta(days=30)).date(),
        start_time=time(12),
    )
    inbox.refused = {members[1].email}  # its mail server refuses it for now
    detail = reverse("meetings:detail", args=["rural", meeting.pk])

    context = chromium.new_context(locale="en-CA", timezone_id="America/Toronto")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_in(page, base, manager, detail)
        expect(page.get_by_text("No invitation sent yet.")).to_be_visible()

        # With the keyboard: focus the button, press Enter.
        page.get_by_role("button", name="Send the invitations").focus()
        page.keyboard.press("Enter")
        expect(page.locator(".messages")).to_contain_text(
            "The invitations are on their way to 4 members."
        )
        progress = page.locator("table.mail-progress tbody tr")
        expect(progress).to_have_count(1)
        expect(progress).to_contain_text("Invitations")
        expect(progress).to_contain_text("sent 3 of 4, 1 waiting")
        expect(page.get_by_role("button", name="Send to members who have none")).to_be_visible()

        # The refusal went on until the outbox gave up: the page says why, the manager
        # retries once the address works again.
        Email.objects.filter(to=members[1].email).update(
            state=EmailState.FAILED, last_error="550 5.1.1 No such mailbox here"
        )
        inbox.refused = set()
        page.goto(base + detail)
        expect(progress).to_contain_text("sent 3 of 4, 1 failed")
        expect(progress).to_contain_text("550 5.1.1 No such mailbox here")
        assert blocking_violations(page) == []
        page.get_by_role("button", name="Try the failed email again").click()
        expect(page.locator(".messages")).to_contain_text("1 email will be tried again now.")
        expect(progress).to_contain_text("sent 4 of 4")
    finally:
        context.close()

    received: dict[str, int] = {}
    for raw in inbox.messages:
        message = message_from_bytes(raw.as_bytes(), policy=policy.default)
        received[message["To"]] = received.get(message["To"], 0) + 1
        calendar = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        assert calendar and calendar[0].get_param("method") == "REQUEST"
    assert received == {user.email: 1 for user in [manager, *members]}
