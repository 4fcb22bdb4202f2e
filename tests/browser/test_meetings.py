"""The meeting pages in Chromium against the real server: a manager plans a monthly series
(preview, then save) and sees its dates; a member in St. John's sees the meeting at their
own time and answers with the keyboard; the manager sees the answer."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import dateformat, timezone
from playwright.sync_api import expect

from communities.enums import JoinPolicy, Role
from meetings.models import Meeting, Series
from tests.factories import PASSWORD, CommunityFactory, MembershipFactory

pytestmark = pytest.mark.browser


def _sign_in(context, base: str, user, next_url: str):
    page = context.new_page()
    page.goto(f"{base}{reverse('login')}?next={next_url}")
    page.locator("input[name=username]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(base + next_url)
    return page


def _second_tuesdays(count: int):
    found, day = [], timezone.localdate(timezone.now(), ZoneInfo("America/Toronto"))
    day += timedelta(days=1)
    while len(found) < count:
        if day.weekday() == 1 and 8 <= day.day <= 14:
            found.append(day)
        day += timedelta(days=1)
    return found


def test_manager_plans_a_series_member_in_st_johns_answers_manager_sees_it(daphne_server, chromium):
    community = CommunityFactory(
        name="Rural Family Medicine",
        slug="rural",
        join_policy=JoinPolicy.OPEN,
        timezone="America/Toronto",
        video_url="https://video.example.org/rural",
    )
    manager = MembershipFactory(
        community=community, role=Role.MANAGER, user__display_name="Dr. Manager"
    ).user
    member = MembershipFactory(
        community=community,
        user__display_name="Dr. Newfoundland",
        user__timezone="America/St_Johns",
    ).user
    base = daphne_server
    manager_context = chromium.new_context(locale="en-CA", timezone_id="America/Toronto")
    member_context = chromium.new_context(locale="en-CA", timezone_id="America/St_Johns")
    try:
        for context in (manager_context, member_context):
            context.set_default_timeout(10_000)

        # The manager fills the series form, previews its dates, then saves it.
        page = _sign_in(
            manager_context, base, manager, reverse("meetings:series_create", args=["rural"])
        )
        page.get_by_label("Title:", exact=True).fill("Monthly call")
        page.get_by_label("Monthly, on a weekday (e.g. the second Tuesday)", exact=True).check()
        expect(page.get_by_label("Day of the month:", exact=True)).to_be_hidden()
        page.get_by_label("Which one in the month:", exact=True).select_option(label="second")
        page.get_by_label("Weekday:", exact=True).select_option(label="Tuesday")
        page.get_by_label("First date:", exact=True).fill(_second_tuesdays(1)[0].isoformat())
        page.get_by_label("Local start time:", exact=True).fill("12:00")
        expect(page.get_by_label("Time zone:", exact=True)).to_have_value("America/Toronto")
        expect(page.get_by_label("Length in minutes:", exact=True)).to_have_value("60")
        page.get_by_role("button", name="Preview the dates").click()

        rows = page.locator(".preview tbody tr")
        expect(rows).to_have_count(3)
        expected = [dateformat.format(day, "N j, Y") + ", noon" for day in _second_tuesdays(3)]
        for row, text in zip(rows.all(), expected, strict=True):
            expect(row.locator("td").first).to_contain_text(text)
        assert not Series.objects.exists()

        page.get_by_role("button", name="Save", exact=True).click()
        expect(page).to_have_url(base + reverse("meetings:series_list", args=["rural"]))
        expect(page.locator(".messages")).to_contain_text("The series is saved.")
        expect(page.locator("table.series")).to_contain_text("monthly on the second Tuesday")

        page.goto(base + reverse("meetings:list", args=["rural"]))
        upcoming = page.locator("#upcoming + ul.meetings > li")
        expect(upcoming.first).to_contain_text(expected[0])
        assert upcoming.count() == Meeting.objects.count()

        # The member in St. John's sees the first meeting at 1:30 p.m. their time.
        meeting = Meeting.objects.order_by("starts_at").first()
        detail = reverse("meetings:detail", args=["rural", meeting.pk])
        member_page = _sign_in(member_context, base, member, detail)
        expect(member_page.locator("p.when")).to_contain_text(
            f"{expected[0]} in Toronto — 1:30 p.m. your time"
        )
        expect(member_page.get_by_role("link", name="Join the video call")).to_have_attribute(
            "href", "https://video.example.org/rural"
        )

        # ... and answers with the keyboard alone.
        member_page.get_by_label("Yes", exact=True).focus()
        member_page.keyboard.press("Space")
        member_page.keyboard.press("Tab")
        member_page.keyboard.type("Glad to come")
        member_page.keyboard.press("Tab")
        member_page.keyboard.press("Enter")
        expect(member_page.locator(".messages")).to_contain_text("Your answer is saved.")
        expect(member_page.locator(".counts")).to_contain_text("Yes: 1")
        expect(member_page.locator("p.yes")).to_contain_text("Dr. Newfoundland")

        # The manager sees the answer and its note.
        page.goto(base + detail)
        answer_row = page.locator("table.answers tbody tr")
        expect(answer_row).to_have_count(1)
        expect(answer_row).to_contain_text("Dr. Newfoundland")
        expect(answer_row).to_contain_text("Yes")
        expect(answer_row).to_contain_text("Glad to come")
    finally:
        manager_context.close()
        member_context.close()


def test_series_form_shows_errors_next_to_fields_and_saves_nothing(daphne_server, page):
    community = CommunityFactory(slug="rural", timezone="America/Vancouver")
    manager = MembershipFactory(community=community, role=Role.MANAGER).user
    url = reverse("meetings:series_create", args=["rural"])
    page = _sign_in(page.context, daphne_server, manager, url)

    page.get_by_label("Title:", exact=True).fill("Weekly huddle")
    page.get_by_label("Every N weeks, on a weekday", exact=True).check()
    page.get_by_label("First date:", exact=True).fill(_second_tuesdays(1)[0].isoformat())
    page.get_by_label("Local start time:", exact=True).fill("12:00")
    page.get_by_label("Length in minutes:", exact=True).fill("481")
    page.get_by_role("button", name="Save", exact=True).click()

    field = page.locator(".field.has-errors")
    expect(field).to_have_count(1)
    expect(field).to_contain_text("A meeting lasts from 1 minute to 8 hours (480 minutes).")
    expect(field.locator("input")).to_have_attribute("aria-invalid", "true")
    assert not Series.objects.exists()
