"""axe-core on the main pages, in Chromium against the real server: no violation that
axe rates serious or critical (a screen-reader or keyboard user would be blocked)."""

import secrets
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from communities.enums import JoinPolicy, Role
from rooms.enums import RoomKind
from rooms.models import Report, Room
from tests.factories import (
    PASSWORD,
    CommunityFactory,
    InvitationFactory,
    MembershipFactory,
    MessageFactory,
    PendingMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}


def _blocking_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[node['html'] for node in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


def _sign_in(page, base: str, user, next_url: str) -> None:
    page.goto(f"{base}{reverse('login')}?next={next_url}")
    page.locator("input[name=username]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(base + next_url)


def _community_with_history():
    """A community, its room under an isolated id (pub/sub group names are global on a
    shared Redis), a manager, and messages over three days, one of them reported."""
    community = CommunityFactory(
        join_policy=JoinPolicy.REQUEST, name="Rural Family Medicine", slug="rural"
    )
    community.rooms.all().delete()
    room = Room.objects.create(
        pk=10**12 + secrets.randbelow(10**12),
        community=community,
        kind=RoomKind.COMMUNITY,
        title=community.name,
    )
    manager = MembershipFactory(community=community, role=Role.MANAGER).user
    member = MembershipFactory(community=community, user__display_name="Dr. Lee").user
    PendingMembershipFactory(community=community)
    InvitationFactory(community=community, note="For Dr. Roy")
    now = timezone.now()
    for days, author, body in [
        (2, member, "Two days ago"),
        (1, manager, "Yesterday"),
        (0, member, "Today"),
        (0, manager, "Also today"),
    ]:
        message = MessageFactory(
            room=room, author=author, body=body, created_at=now - timedelta(days=days)
        )
    Report.objects.create(message=message, reporter=member, reason="Off topic")
    return community, room, manager


def test_room_page_has_no_serious_violations(daphne_server, page):
    _community, _room, manager = _community_with_history()

    _sign_in(page, daphne_server, manager, reverse("rooms:room", kwargs={"slug": "rural"}))
    expect(page.locator("[data-connection]")).to_have_text("Connected.")
    expect(page.locator("[data-messages] li[data-seq]")).to_have_count(4)
    expect(page.locator("[data-messages] li.day")).to_have_count(3)
    expect(page.locator("[data-online] li")).to_have_count(1)

    assert _blocking_violations(page) == []


def test_moderation_page_has_no_serious_violations(daphne_server, page):
    _community, _room, manager = _community_with_history()

    _sign_in(page, daphne_server, manager, reverse("rooms:moderation", kwargs={"slug": "rural"}))
    expect(page.get_by_text("Off topic")).to_be_visible()

    assert _blocking_violations(page) == []


def test_community_page_for_its_manager_has_no_serious_violations(daphne_server, page):
    _community, _room, manager = _community_with_history()

    _sign_in(page, daphne_server, manager, reverse("communities:detail", kwargs={"slug": "rural"}))

    assert _blocking_violations(page) == []


def test_community_page_for_a_visitor_has_no_serious_violations(daphne_server, page):
    _community_with_history()

    page.goto(daphne_server + reverse("communities:detail", kwargs={"slug": "rural"}))

    assert _blocking_violations(page) == []


def test_home_page_signed_in_has_no_serious_violations(daphne_server, page):
    _community, _room, manager = _community_with_history()
    CommunityFactory(name="Palliative Care")

    _sign_in(page, daphne_server, manager, "/")

    assert _blocking_violations(page) == []


@pytest.mark.parametrize("url_name", ["home", "login", "accounts:sign_up"])
def test_public_page_has_no_serious_violations(daphne_server, page, url_name):
    CommunityFactory(name="Palliative Care")

    page.goto(daphne_server + reverse(url_name))

    assert _blocking_violations(page) == []


def test_sign_up_page_with_errors_has_no_serious_violations(daphne_server, page):
    UserFactory()
    page.goto(daphne_server + reverse("accounts:sign_up"))

    page.get_by_role("button", name="Create my account").click()
    expect(page.locator(".has-errors").first).to_be_visible()

    assert _blocking_violations(page) == []
