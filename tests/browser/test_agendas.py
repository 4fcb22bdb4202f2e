"""The agenda pages in Chromium against the real server: a meeting's confirmed chair edits
its agenda with the keyboard alone (adds an item, moves it, names an outside guest as the
focus presenter), sees the overrun warning, publishes it; axe finds nothing serious on the
agenda page or the standing agenda's editor."""

from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from agendas.models import Agenda
from communities.enums import JoinPolicy, Role
from meetings import services as meeting_services
from tests.browser.pages import blocking_violations, sign_in
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser


def _community_with_a_chair():
    community = CommunityFactory(
        join_policy=JoinPolicy.OPEN, name="Rural Family Medicine", slug="rural"
    )
    joined = timezone.now() - timedelta(days=300)
    manager = MembershipFactory(
        community=community, role=Role.MANAGER, joined_at=joined, user__display_name="Manager"
    ).user
    chair = MembershipFactory(
        community=community, joined_at=joined, user__display_name="Dr. Chair"
    ).user
    MembershipFactory(community=community, user__display_name="Dr. Newcomer")
    staff = UserFactory(is_staff=True)
    meeting = meeting_services.meeting_create(
        actor=staff,
        community=community,
        title="Monthly call",
        day=(timezone.now() + timedelta(days=12)).date(),
        start_time=time(12),
    )
    meeting_services.chair_override(actor=staff, meeting=meeting, user=chair)
    meeting_services.chair_confirm(actor=staff, meeting=meeting)
    return community, manager, chair, meeting


def test_chair_edits_the_agenda_with_the_keyboard_and_publishes_it(daphne_server, page):
    community, _manager, chair, meeting = _community_with_a_chair()
    url = reverse("agendas:agenda", args=[community.slug, meeting.pk])
    sign_in(page, daphne_server, chair, url)
    expect(page.get_by_role("heading", name="New members introduction")).to_be_visible()
    expect(page.locator(".new-members")).to_contain_text("Dr. Newcomer")
    expect(page.locator("p.overrun")).to_have_count(0)
    assert blocking_violations(page) == []

    # An item of this meeting: typed, then Enter sends the form.
    page.locator("#id_new-title").focus()
    page.keyboard.type("Clinic tour")
    page.keyboard.press("Tab")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("30")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("“Clinic tour” is added.")
    items = page.locator(".agenda-items > li h3")
    expect(items.last).to_contain_text("Clinic tour")

    # 47 standing minutes, three one-minute turns and 30 more: the hour is over.
    warning = page.locator('p.overrun[role="status"]')
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("The agenda takes 80 minutes: 20 minutes more")

    # Moved above "Future agenda and next meeting" with its own button, by the keyboard.
    page.get_by_role("button", name="Move up “Clinic tour”").focus()
    page.keyboard.press("Enter")
    expect(items.nth(4)).to_contain_text("Clinic tour")
    expect(items.nth(5)).to_contain_text("Future agenda and next meeting")

    # The focus presentation, by an outside guest.
    page.get_by_label("Focus topic:", exact=True).focus()
    page.keyboard.type("Telehealth in rural clinics")
    page.keyboard.press("Tab")  # the member's choice: left empty
    page.keyboard.press("Tab")
    page.keyboard.type("Dr. Guest Expert")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("The focus presentation is saved.")
    expect(page.locator(".focus")).to_contain_text("Topic: Telehealth in rural clinics")
    expect(page.locator(".focus")).to_contain_text("Presented by Dr. Guest Expert (guest)")

    # Published by the keyboard.
    page.get_by_role("button", name="Publish the agenda").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("The agenda is published")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Published")
    expect(page.get_by_role("button", name="Publish the agenda")).to_have_count(0)
    agenda = Agenda.objects.get(meeting=meeting)
    assert agenda.published_at is not None
    assert (agenda.presenter_id, agenda.presenter_name) == (None, "Dr. Guest Expert")
    assert blocking_violations(page) == []


def test_standing_agenda_editor_has_no_serious_violations(daphne_server, page):
    community, manager, _chair, _meeting = _community_with_a_chair()
    url = reverse("agendas:template", args=[community.slug])
    sign_in(page, daphne_server, manager, url)
    expect(page.get_by_role("heading", name="Open discussion")).to_be_visible()

    assert blocking_violations(page) == []

    # A refused length shows next to its field, and the page stays usable.
    page.locator("#id_new-title").fill("Announcements")
    page.locator("#id_new-minutes").fill("900")
    page.locator("#id_new-minutes").press("Enter")
    expect(page.get_by_text("An item lasts from 0 to 240 minutes.")).to_be_visible()
    assert blocking_violations(page) == []
