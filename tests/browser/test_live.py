"""A meeting live in Chromium against the real server: a chair (in a 420 px window, beside
a video call) and two members in three browser contexts. The chair starts the meeting and
the roundtable with the keyboard; both members see the same speaker and countdowns within
a second of each other; the speaker records their lines; the turn runs out by itself and
moves on everywhere; a member who reloads sees the same state; speaking time shows after
the roundtable; axe finds nothing serious on the console or the member's view."""

import re
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from agendas import services as agenda_services
from agendas.models import AgendaTemplate, Turn
from communities.enums import JoinPolicy
from meetings import services as meeting_services
from meetings.models import Meeting
from minutes.models import ActionItem
from tests.browser.pages import blocking_violations, sign_in
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser

ROUNDTABLE = "Current progress / initiatives roundtable"  # the standing item's title
TURN_SECONDS = 8  # a short turn, so the test does not wait a minute for one to run out


def _meeting():
    community = CommunityFactory(join_policy=JoinPolicy.OPEN, name="Rural Family Medicine")
    joined = timezone.now() - timedelta(days=300)
    people = {
        name: MembershipFactory(community=community, joined_at=joined, user__display_name=name).user
        for name in ("Carla Chair", "Ana Member", "Ben Member")
    }
    staff = UserFactory(is_staff=True)
    start = timezone.localtime(timezone.now() + timedelta(minutes=20))
    meeting = meeting_services.meeting_create(
        actor=staff,
        community=community,
        title="Monthly call",
        day=start.date(),
        start_time=start.time().replace(second=0, microsecond=0),
        timezone_name=str(start.tzinfo),
    )
    meeting_services.chair_override(actor=staff, meeting=meeting, user=people["Carla Chair"])
    meeting_services.chair_confirm(actor=staff, meeting=meeting)
    Meeting.objects.filter(pk=meeting.pk).update(backup=people["Ben Member"])
    agenda_services.agenda_ensure(meeting=meeting)
    AgendaTemplate.objects.filter(community=community).update(turn_seconds=TURN_SECONDS)
    return meeting, people


def _seconds(text: str) -> int:
    minutes, seconds = re.fullmatch(r"\s*(\d+):(\d\d)\D*", text).groups()
    return int(minutes) * 60 + int(seconds)


def _open(chromium, base, user, url, **context_args):
    context = chromium.new_context(locale="en-CA", timezone_id="America/Toronto", **context_args)
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, base, user, url)
    expect(page.locator("[data-live-connection]")).to_have_text("Connected.")
    return context, page


def test_chair_runs_the_roundtable_and_members_follow_live(daphne_server, chromium):
    meeting, people = _meeting()
    url = reverse("agendas:live", args=[meeting.community.slug, meeting.pk])
    contexts = []
    try:
        chair_ctx, chair = _open(
            chromium,
            daphne_server,
            people["Carla Chair"],
            url,
            viewport={"width": 420, "height": 900},
        )
        ana_ctx, ana = _open(chromium, daphne_server, people["Ana Member"], url)
        ben_ctx, ben = _open(chromium, daphne_server, people["Ben Member"], url)
        contexts = [chair_ctx, ana_ctx, ben_ctx]
        pages = [chair, ana, ben]

        # Everyone is present, on every page.
        for page in pages:
            expect(page.locator("[data-present] li")).to_have_count(3)
        # The console is the chair's; a member sees none; the backup sees it, with when
        # they may use it.
        expect(chair.get_by_role("heading", name="Chair's console")).to_be_visible()
        expect(chair.locator("[data-console-note]")).to_be_hidden()
        expect(ana.locator("[data-console]")).to_be_hidden()
        expect(ben.locator("[data-console-note]")).to_be_visible()
        # Compact enough to sit beside a video call: nothing wider than 420 px.
        assert chair.evaluate("document.documentElement.scrollWidth") <= 420
        assert blocking_violations(chair) == []

        # Started with the keyboard alone: the button focused, Enter; then → (next item).
        chair.get_by_role("button", name="Start the meeting").focus()
        chair.keyboard.press("Enter")
        for page in pages:
            expect(page.locator("[data-now-title]")).to_have_text("New members introduction")
        chair.locator("body").click(position={"x": 5, "y": 5})  # focus out of the buttons
        chair.keyboard.press("ArrowRight")
        for page in pages:
            expect(page.locator("[data-now-title]")).to_have_text(ROUNDTABLE)
            expect(page.locator(".live-agenda li.current")).to_contain_text(ROUNDTABLE)

        chair.get_by_label("Speaking order").select_option("alphabetical")
        chair.get_by_role("button", name="Start the roundtable").click()

        # The same speaker everywhere, and countdowns within a second of each other.
        for page in pages:
            expect(page.locator("[data-speaker]")).to_contain_text("Ana Member")
            expect(page.locator("[data-next]")).to_have_text("Next: Ben Member")
        left = [_seconds(page.locator("[data-countdown]").inner_text()) for page in (ana, ben)]
        assert abs(left[0] - left[1]) <= 1 and 0 < left[0] <= TURN_SECONDS
        expect(ana.locator("[data-announce]")).to_have_text("It is your turn to speak.")
        expect(ben.locator("[data-announce]")).to_have_text("Ana Member is speaking.")

        # The speaker's box is hers (the chair sees it for her; Ben does not).
        expect(ben.locator("[data-lines]")).to_be_hidden()
        expect(chair.locator("[data-lines-heading]")).to_have_text("Lines for Ana Member")
        ana.get_by_label("A challenge or success").fill("Recruiting a second nurse")
        ana.get_by_label("How others can help").fill("Share your job posting")
        ana.get_by_role("button", name="Save my lines").click()
        expect(ana.locator("[data-lines-status]")).to_have_text("Saved.")
        turn = Turn.objects.get(run__meeting=meeting, user=people["Ana Member"])
        assert (turn.challenge, turn.help_wanted, turn.private) == (
            "Recruiting a second nurse",
            "Share your job posting",
            False,
        )

        # Meanwhile the chair records an action item for the minutes, on this item.
        chair.get_by_label("Record", exact=True).select_option(label="an action item")
        chair.get_by_label("Text").fill("Send the nurse job posting")
        chair.get_by_label("Owner").select_option(label="Ana Member")
        chair.get_by_role("button", name="Record", exact=True).click()
        expect(chair.locator("[data-record-status]")).to_have_text("Action item recorded.")
        action = ActionItem.objects.get(meeting=meeting)
        assert (action.owner, action.text) == (people["Ana Member"], "Send the nurse job posting")

        # Nobody presses anything: the turn runs out and moves on, on every page.
        for page in pages:
            expect(page.locator("[data-speaker]")).to_contain_text(
                "Ben Member", timeout=(TURN_SECONDS + 5) * 1000
            )
        # An eight-second turn is all in its last ten seconds: the countdown warns.
        expect(chair.locator(".countdown")).to_have_class(re.compile("warning"))

        # Ana reloads: the same state as everyone (same version, speaker, queue).
        ana.reload()
        expect(ana.locator("[data-live-connection]")).to_have_text("Connected.")
        expect(ana.locator("[data-speaker]")).to_contain_text("Ben Member")
        version = chair.locator("#live").get_attribute("data-version")
        expect(ana.locator("#live")).to_have_attribute("data-version", version)
        expect(ben.locator("#live")).to_have_attribute("data-version", version)

        # The chair's shortcuts: N for the next speaker, then N again ends the round.
        chair.keyboard.press("n")
        for page in pages:
            expect(page.locator("[data-speaker]")).to_contain_text("Carla Chair")
        chair.keyboard.press("n")
        for page in pages:
            expect(page.locator("[data-turn]")).to_be_hidden()
            expect(page.locator("[data-spoken-rows] tr")).to_have_count(3)
        expect(ben.locator("[data-spoken]")).to_contain_text("Ana Member")
        assert blocking_violations(ben) == []
        assert blocking_violations(chair) == []
    finally:
        for context in contexts:
            context.close()
        time.sleep(0.3)  # the server sees the sockets go before it is stopped
