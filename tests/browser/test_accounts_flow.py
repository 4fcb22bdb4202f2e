"""A person signs up (confirming through the emailed link), joins a community and switches
to French, in a real browser."""

import re
import time

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.conftest import database_url_for_tests, run_daphne
from tests.factories import PASSWORD, CommunityFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def daphne_mailing(transactional_db, tmp_path, smtp_server, settings):
    """The real server, sending its email to the test's SMTP server (whose port the
    smtp_server fixture put in the settings). Yields the base URL and the inbox."""
    with run_daphne(
        tmp_path / "daphne.log",
        DATABASE_URL=database_url_for_tests(),
        TEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_URL=f"smtp://127.0.0.1:{settings.EMAIL_PORT}",
    ) as base:
        yield base, smtp_server


def _sign_up_link(inbox) -> str:
    """The path of the confirmation link in the one email the inbox holds."""
    deadline = time.monotonic() + 5
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    [message] = inbox.messages
    body = message.get_payload(decode=True).decode(message.get_content_charset())
    [url] = re.findall(r"https?://\S+/accounts/signup/confirm/\S+", body)
    return re.sub(r"^https?://[^/]+", "", url)


def test_visitor_signs_up_joins_a_community_and_switches_to_french(daphne_mailing, page):
    daphne_server, inbox = daphne_mailing
    community = CommunityFactory(join_policy="open", name="Rural Family Medicine")

    page.goto(daphne_server + "/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email address").fill("Amelie.Roy@Example.org")
    page.get_by_label("Display name").fill("Dr. Amélie Roy")
    page.get_by_label("Time zone").select_option("America/Halifax")
    page.get_by_label("Preferred language").select_option("en")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    page.goto(daphne_server + _sign_up_link(inbox))
    page.get_by_role("button", name="Finish creating my account").click()

    expect(page.get_by_role("status")).to_have_text("Welcome! Your account is ready.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")
    user = User.objects.get()
    assert (user.email, user.display_name, user.timezone, user.language) == (
        "amelie.roy@example.org",
        "Dr. Amélie Roy",
        "America/Halifax",
        "en",
    )

    page.get_by_role("link", name="Communities of practice").click()
    page.get_by_role("link", name="Rural Family Medicine").click()
    page.get_by_role("button", name="Join", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Welcome to Rural Family Medicine!")
    expect(page.locator("ul.members strong")).to_have_text(["Dr. Amélie Roy"])
    assert list(community.memberships.values_list("user__email", "status")) == [
        ("amelie.roy@example.org", "active")
    ]

    page.get_by_label("Language", exact=True).select_option("fr")
    page.get_by_role("button", name="Change language").click()

    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page).to_have_url(daphne_server + community.get_absolute_url())
    expect(page.locator("h2#members")).to_have_text("Membres")
    user.refresh_from_db()
    assert user.language == "fr"


def test_sign_up_time_zone_starts_at_the_browsers_zone(daphne_server, chromium):
    context = chromium.new_context(locale="en-CA", timezone_id="America/St_Johns")
    try:
        page = context.new_page()

        page.goto(daphne_server + "/accounts/signup/")

        expect(page.get_by_label("Time zone")).to_have_value("America/St_Johns")
    finally:
        context.close()


def test_a_zone_chosen_before_the_script_runs_is_kept(daphne_server, page):
    """The script that starts the menu at the browser's zone may run late (a slow
    network); it must not overwrite a zone the person already picked."""
    held = []
    page.route("**/static/js/site*.js", lambda route: held.append(route))

    # Module scripts run before DOMContentLoaded, so only wait for the response.
    page.goto(daphne_server + "/accounts/signup/", wait_until="commit")
    page.get_by_label("Time zone").select_option("America/Halifax")
    for _ in range(250):
        if held:
            break
        page.wait_for_timeout(20)
    assert held, "site.js was never requested"
    for route in held:
        route.continue_()
    page.wait_for_load_state("load")

    expect(page.get_by_label("Time zone")).to_have_value("America/Halifax")


def test_sign_in_form_works_with_the_keyboard_alone(daphne_server, page):
    UserFactory(email="person@example.org", display_name="Dr. Lee")
    page.goto(daphne_server + "/")

    sign_in = page.get_by_role("link", name="Sign in")
    for _ in range(10):
        page.keyboard.press("Tab")
        if sign_in.evaluate("link => link === document.activeElement"):
            break
    else:
        pytest.fail("the Sign in link cannot be reached with Tab")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_label("Email address")).to_be_focused()
    page.keyboard.type("Person@Example.org")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page).to_have_url(daphne_server + "/")
    expect(page.get_by_role("link", name="Dr. Lee")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
