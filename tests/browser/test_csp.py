"""The Content-Security-Policy blocks nothing the site itself does, in a real browser:
the room connects its WebSocket and sends, sign-up runs its script, the admin's scripts
run. Violations are caught both as console errors and as `securitypolicyviolation` events."""

import secrets

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from communities.enums import JoinPolicy, Role
from rooms.enums import RoomKind
from rooms.models import Message, Room
from tests.factories import PASSWORD, CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def watched(page):
    """The page, and the CSP violations it reports (console errors and events)."""
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)

    def violations() -> list[str]:
        events = page.evaluate("window.__cspViolations || []")
        return console + events

    return page, violations


def _sign_in(page, base: str, user, next_url: str) -> None:
    page.goto(f"{base}{reverse('login')}?next={next_url}")
    page.locator("input[name=username]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(base + next_url)


def test_room_connects_and_sends_without_csp_violations(daphne_server, watched):
    page, violations = watched
    community = CommunityFactory(join_policy=JoinPolicy.OPEN)
    # On a shared Redis, pub/sub group names are global: an id no other run uses.
    community.rooms.all().delete()
    room = Room.objects.create(
        pk=10**12 + secrets.randbelow(10**12),
        community=community,
        kind=RoomKind.COMMUNITY,
        title=community.name,
    )
    member = MembershipFactory(community=community).user
    room_url = reverse("rooms:room", kwargs={"slug": community.slug})

    _sign_in(page, daphne_server, member, room_url)
    expect(page.locator("[data-connection]")).to_have_text("Connected.")
    page.locator("#composer-text").fill("Hello under a strict policy")
    page.locator("#composer-text").press("Enter")

    expect(page.locator("[data-messages] li[data-seq] .message-body")).to_have_text(
        ["Hello under a strict policy"]
    )
    assert list(Message.objects.filter(room=room).values_list("body", flat=True)) == [
        "Hello under a strict policy"
    ]
    assert violations() == []


def test_sign_up_page_runs_its_script_without_csp_violations(daphne_server, chromium):
    context = chromium.new_context(locale="en-CA", timezone_id="America/St_Johns")
    try:
        page = context.new_page()
        console = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.add_init_script(RECORD_VIOLATIONS)

        page.goto(daphne_server + reverse("accounts:sign_up"))

        # site.js ran: the zone menu starts at the browser's zone.
        expect(page.get_by_label("Time zone")).to_have_value("America/St_Johns")
        events = page.evaluate("window.__cspViolations")
        assert [text for text in console if "Content Security Policy" in text] == []
        assert events == []
    finally:
        context.close()


def test_admin_pages_work_without_csp_violations(daphne_server, watched):
    page, violations = watched
    admin = UserFactory(is_staff=True, is_superuser=True)
    community = CommunityFactory()
    MembershipFactory(community=community, role=Role.MANAGER)

    _sign_in(page, daphne_server, admin, "/admin/")
    page.goto(daphne_server + "/admin/communities/membership/")
    expect(page.locator("select[name=action]")).to_be_visible()
    page.goto(f"{daphne_server}/admin/communities/community/{community.pk}/change/")
    expect(page.locator("#memberships-group")).to_be_visible()
    page.goto(daphne_server + "/admin/communities/community/add/")
    # The admin's own script fills the slug in from the name.
    page.locator("#id_name").press_sequentially("Rural Care")

    expect(page.locator("#id_slug")).to_have_value("rural-care")
    assert violations() == []
