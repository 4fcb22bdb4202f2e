"""axe-core on the main pages, in Chromium against the real server: no violation that
axe rates serious or critical (a screen-reader or keyboard user would be blocked)."""

import secrets
from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from communities.enums import JoinPolicy, Role
from meetings import selectors, services
from meetings.models import ChairSwap, Meeting
from rooms.enums import RoomKind
from rooms.models import Report, Room
from rooms.services import room_create
from tests.browser.pages import blocking_violations, sign_in
from tests.factories import (
    CommunityFactory,
    InvitationFactory,
    MembershipFactory,
    MessageFactory,
    PendingMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser


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

    sign_in(page, daphne_server, manager, reverse("rooms:room", kwargs={"slug": "rural"}))
    expect(page.locator("[data-connection]")).to_have_text("Connected.")
    expect(page.locator("[data-messages] li[data-seq]")).to_have_count(4)
    expect(page.locator("[data-messages] li.day")).to_have_count(3)
    expect(page.locator("[data-online] li")).to_have_count(1)

    assert blocking_violations(page) == []


def test_moderation_page_has_no_serious_violations(daphne_server, page):
    _community, _room, manager = _community_with_history()

    sign_in(page, daphne_server, manager, reverse("rooms:moderation", kwargs={"slug": "rural"}))
    expect(page.get_by_text("Off topic")).to_be_visible()

    assert blocking_violations(page) == []


def test_community_page_for_its_manager_has_no_serious_violations(daphne_server, page):
    _community, _room, manager = _community_with_history()

    sign_in(page, daphne_server, manager, reverse("communities:detail", kwargs={"slug": "rural"}))

    assert blocking_violations(page) == []


def test_community_page_for_a_visitor_has_no_serious_violations(daphne_server, page):
    _community_with_history()

    page.goto(daphne_server + reverse("communities:detail", kwargs={"slug": "rural"}))

    assert blocking_violations(page) == []


def test_home_page_signed_in_has_no_serious_violations(daphne_server, page):
    _community, _room, manager = _community_with_history()
    CommunityFactory(name="Palliative Care")

    sign_in(page, daphne_server, manager, "/")

    assert blocking_violations(page) == []


@pytest.mark.parametrize("url_name", ["home", "login", "accounts:sign_up"])
def test_public_page_has_no_serious_violations(daphne_server, page, url_name):
    CommunityFactory(name="Palliative Care")

    page.goto(daphne_server + reverse(url_name))

    assert blocking_violations(page) == []


def test_sign_up_page_with_errors_has_no_serious_violations(daphne_server, page):
    UserFactory()
    page.goto(daphne_server + reverse("accounts:sign_up"))

    page.get_by_role("button", name="Create my account").click()
    expect(page.locator(".has-errors").first).to_be_visible()

    assert blocking_violations(page) == []


# The meeting pages


def _keyboard_problems(page) -> list[str]:
    """Fields without a label, and positive tabindex values (they break the tab order)."""
    return page.evaluate(
        """() => {
          const problems = [];
          for (const el of document.querySelectorAll("[tabindex]")) {
            if (Number(el.getAttribute("tabindex")) > 0) problems.push(`tabindex: ${el.outerHTML}`);
          }
          for (const el of document.querySelectorAll("input, select, textarea")) {
            if (el.type === "hidden") continue;
            const named = el.labels.length > 0 || el.getAttribute("aria-label")
              || el.getAttribute("aria-labelledby");
            if (!named) problems.push(`no label: ${el.outerHTML}`);
          }
          return problems;
        }"""
    )


def _community_with_meetings():
    """A community with a monthly series, a past meeting with its attendance, one under
    way, answers, a confirmed chair, a proposed swap and a log."""
    community = CommunityFactory(
        join_policy=JoinPolicy.OPEN,
        name="Cardiology Nurses",
        slug="cardio",
        video_url="https://video.example.org/cardio",
    )
    manager = MembershipFactory(
        community=community, role=Role.MANAGER, joined_at=timezone.now() - timedelta(days=400)
    ).user
    members = [
        MembershipFactory(
            community=community,
            user__display_name=f"Dr. Member {n}",
            joined_at=timezone.now() - timedelta(days=300 - n),
        ).user
        for n in range(3)
    ]
    series, _result = services.series_create(
        actor=manager,
        community=community,
        title="Monthly call",
        rrule="FREQ=MONTHLY;BYDAY=2TU",
        first_date=timezone.localdate(),
        start_time=time(12),
    )
    upcoming = list(Meeting.objects.filter(series=series).order_by("starts_at"))
    services.chair_confirm(actor=manager, meeting=upcoming[0])
    upcoming[0].refresh_from_db()
    services.answer_set(user=members[1], meeting=upcoming[0], response="yes", note="Slides ready")
    services.answer_set(user=members[2], meeting=upcoming[0], response="maybe")
    turns = {t.meeting.pk: t for t in selectors.rota_turns(community=community)}
    services.swap_propose(
        user=turns[upcoming[1].pk].chair, meeting=upcoming[1], partner_meeting=upcoming[2]
    )
    for days, title in ((40, "Past call"), (0, "Call under way")):
        starts = timezone.now() - (timedelta(days=days) if days else timedelta(minutes=10))
        held = Meeting.objects.create(
            community=community,
            title=title,
            starts_at=starts,
            timezone=community.timezone,
            chair=members[0],
            chair_confirmed_at=starts - timedelta(days=20),
        )
        held.room = room_create(community=community, kind="meeting", title=title)
        held.save(update_fields=["room"])
    services.attendance_set(actor=manager, meeting=held, user=members[0], status="present")
    return community, manager, members, upcoming, held


def _meeting_pages(upcoming, held):
    first = upcoming[0]
    return {
        "list": reverse("meetings:list", args=["cardio"]),
        "detail": reverse("meetings:detail", args=["cardio", first.pk]),
        "started": reverse("meetings:detail", args=["cardio", held.pk]),
        "handover": reverse("meetings:handover", args=["cardio", first.pk]),
        "edit": reverse("meetings:edit", args=["cardio", first.pk]),
        "create": reverse("meetings:create", args=["cardio"]),
        "rota": reverse("meetings:rota", args=["cardio"]),
        "series_list": reverse("meetings:series_list", args=["cardio"]),
        "series_create": reverse("meetings:series_create", args=["cardio"]),
        "side_chat": reverse("rooms:room_detail", args=["cardio", first.room_id]),
    }


@pytest.mark.parametrize(
    "name",
    [
        "list",
        "detail",
        "started",
        "handover",
        "edit",
        "create",
        "rota",
        "series_list",
        "series_create",
        "side_chat",
    ],
)
def test_meeting_page_for_a_manager_has_no_serious_violations(daphne_server, page, name):
    _community, manager, _members, upcoming, held = _community_with_meetings()

    sign_in(page, daphne_server, manager, _meeting_pages(upcoming, held)[name])

    assert blocking_violations(page) == []
    assert _keyboard_problems(page) == []


@pytest.mark.parametrize("name", ["list", "detail", "rota"])
def test_meeting_page_for_a_member_has_no_serious_violations(daphne_server, page, name):
    _community, _manager, members, upcoming, held = _community_with_meetings()
    # The proposer of the swap: their page shows the swap, its withdrawal and the form.
    member = ChairSwap.objects.get().proposer
    assert member in members

    sign_in(page, daphne_server, member, _meeting_pages(upcoming, held)[name])

    assert blocking_violations(page) == []
    assert _keyboard_problems(page) == []


def test_series_form_with_preview_and_with_errors_has_no_serious_violations(daphne_server, page):
    _community, manager, _members, upcoming, held = _community_with_meetings()
    sign_in(page, daphne_server, manager, _meeting_pages(upcoming, held)["series_create"])
    page.get_by_label("Title:", exact=True).fill("Weekly huddle")
    page.get_by_label("First date:", exact=True).fill(timezone.localdate().isoformat())
    page.get_by_label("Local start time:", exact=True).fill("09:00")

    page.get_by_role("button", name="Preview the dates").click()
    expect(page.locator(".preview tbody tr")).to_have_count(3)
    assert blocking_violations(page) == []

    page.get_by_label("Length in minutes:", exact=True).fill("0")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".has-errors")).to_have_count(1)
    assert blocking_violations(page) == []
    assert _keyboard_problems(page) == []
