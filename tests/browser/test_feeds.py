"""Calendar feeds in Chromium against the real server: a member finds their subscription
address from the meetings page, a client with no session fetches it, the reset button
works from the keyboard and kills the old address; a meeting downloads as a calendar; the
page has no serious accessibility violation."""

from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from communities.enums import JoinPolicy
from meetings import selectors, services
from meetings.models import CalendarFeed
from tests.browser.pages import blocking_violations, sign_in
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser

ADDRESS_LABEL = "Address of the calendar of Cardiology Nurses"


def _unlabelled_fields(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea")]
          .filter((el) => el.type !== "hidden" && el.labels.length === 0
            && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
          .map((el) => el.outerHTML)"""
    )


def _community_with_a_meeting():
    community = CommunityFactory(
        name="Cardiology Nurses",
        slug="cardio",
        join_policy=JoinPolicy.OPEN,
        video_url="https://video.example.org/cardio",
    )
    member = MembershipFactory(community=community, user__display_name="Dr. Member").user
    meeting = services.meeting_create(
        actor=UserFactory(is_staff=True),
        community=community,
        title="Monthly call",
        day=(timezone.now() + timedelta(days=20)).date(),
        start_time=time(12),
    )
    return community, member, meeting


def test_member_subscribes_fetches_the_feed_and_resets_it_by_keyboard(daphne_server, chromium):
    _community, member, meeting = _community_with_a_meeting()
    uid = f"UID:meeting-{meeting.pk}@{selectors.calendar_host()}"
    base = daphne_server
    context = chromium.new_context(locale="en-CA", timezone_id="America/Toronto")
    stranger = chromium.new_context()  # no session: what a calendar app is
    try:
        context.set_default_timeout(10_000)
        page = context.new_page()
        sign_in(page, base, member, reverse("meetings:list", args=["cardio"]))

        assert blocking_violations(page) == []  # the meetings page, with its new link
        page.get_by_role("link", name="Add these meetings to your calendar app").click()
        expect(page).to_have_url(base + reverse("meetings:calendar_subscriptions"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Calendar subscriptions")
        assert blocking_violations(page) == []
        assert _unlabelled_fields(page) == []

        address = page.get_by_label(ADDRESS_LABEL, exact=True)
        url = address.input_value()
        feed = CalendarFeed.objects.get(user=member, community__slug="cardio")
        assert url == f"{base}{reverse('meetings:calendar_feed', args=[feed.token])}"
        section = page.locator(f"#feed-{feed.pk}")
        webcal = section.locator("a[href^='webcal:']")
        expect(webcal).to_have_attribute("href", "webcal://" + url.split("://", 1)[1])

        fetched = page.request.get(url)
        assert fetched.status == 200
        assert fetched.headers["content-type"] == "text/calendar; charset=utf-8"
        assert uid in fetched.text().replace("\r\n ", "")
        anonymous = stranger.request.get(url)
        assert anonymous.status == 200
        assert anonymous.body() == fetched.body()
        etag = fetched.headers["etag"]
        again = stranger.request.get(url, headers={"If-None-Match": etag})
        assert again.status == 304
        assert again.body() == b""
        head = stranger.request.fetch(url, method="HEAD")
        assert head.status == 200
        assert head.headers["etag"] == etag

        # From the address, the keyboard reaches its Copy button, its webcal link, then
        # its reset button.
        address.focus()
        page.keyboard.press("Tab")
        expect(section.get_by_role("button", name="Copy")).to_be_focused()
        page.keyboard.press("Tab")
        expect(webcal).to_be_focused()
        page.keyboard.press("Tab")
        reset = section.get_by_role("button", name="Reset this address")
        expect(reset).to_be_focused()
        page.keyboard.press("Enter")

        expect(page.locator(".messages")).to_contain_text("the old one no longer works")
        new_url = page.get_by_label(ADDRESS_LABEL, exact=True).input_value()
        assert new_url != url
        assert stranger.request.get(url).status == 404
        assert uid in stranger.request.get(new_url).text().replace("\r\n ", "")
    finally:
        context.close()
        stranger.close()


def test_member_downloads_a_meeting_from_its_page(daphne_server, page):
    _community, member, meeting = _community_with_a_meeting()
    sign_in(page, daphne_server, member, reverse("meetings:detail", args=["cardio", meeting.pk]))

    assert blocking_violations(page) == []
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Add to my calendar (.ics)").click()
    download = downloading.value

    assert download.suggested_filename == f"meeting-{meeting.pk}.ics"
    text = download.path().read_bytes().decode()  # as sent: read_text() would turn CRLF into LF
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert f"UID:meeting-{meeting.pk}@{selectors.calendar_host()}" in text.replace("\r\n ", "")
    assert "SUMMARY:Monthly call" in text
