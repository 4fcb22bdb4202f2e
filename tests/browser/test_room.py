"""The room page in real browsers against the real server: two members chatting, a cut
connection that loses and doubles nothing, the keyboard, safe text and links, French."""

import contextlib
import json
import re
import secrets
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from communities.enums import JoinPolicy
from rooms.enums import RoomKind
from rooms.models import Message, Presence, Room
from tests.conftest import database_url_for_tests, run_daphne
from tests.factories import PASSWORD, CommunityFactory, MembershipFactory

pytestmark = pytest.mark.browser

TIMEOUT_MS = 5_000
SEQ = "[data-messages] li[data-seq]"
BODIES = f"{SEQ} .message-body"
PENDING = "[data-messages] li.pending"


def _room(*, members: int, **member_fields) -> tuple[Room, list]:
    """A committed open community, its room and its members, before any page opens."""
    community = CommunityFactory(join_policy=JoinPolicy.OPEN, name="Rural Family Medicine")
    # On a shared Redis, pub/sub group names are global: a room id no other test run uses
    # keeps other runs' events out of this room.
    community.rooms.all().delete()  # the one it was made with, under a usual id
    room = Room.objects.create(
        pk=10**12 + secrets.randbelow(10**12),
        community=community,
        kind=RoomKind.COMMUNITY,
        title=community.name,
    )
    people = [MembershipFactory(community=community, **member_fields).user for _ in range(members)]
    return room, people


@contextlib.contextmanager
def _browsers(room):
    """An ExitStack for the test's browser contexts. Once they are closed, wait (bounded)
    until the server has seen every socket go: stopping Daphne while a consumer is still
    disconnecting can keep it from exiting for the fixture's whole 10 s grace period."""
    with contextlib.ExitStack() as stack:
        yield stack
    deadline = time.monotonic() + 3
    while Presence.objects.filter(room=room).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _room_url(room) -> str:
    return reverse("rooms:room", kwargs={"slug": room.community.slug})


def _open_room(stack, chromium, base: str, user, room, *, locale="en-CA", route=None):
    """A new browser context for `user`, signed in through the sign-in page, on the room
    page. `route` proxies the page's room socket (see Cuttable). Closed by `stack`."""
    context = chromium.new_context(locale=locale, timezone_id="America/Toronto")
    stack.callback(context.close)
    if route is not None:
        context.route_web_socket(re.compile(r"/ws/rooms/\d+/"), route.handler)
    return _open_room_in(context, base, user, room)


def _open_room_in(context, base: str, user, room):
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base}{reverse('login')}?next={_room_url(room)}")
    page.locator("input[name=username]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(base + _room_url(room))
    return page


def _connected(page) -> None:
    expect(page.locator("[data-connection]")).to_have_text("Connected.")


def _say(page, text: str) -> None:
    composer = page.locator("#composer-text")
    composer.fill(text)
    composer.press("Enter")


def _seqs(page) -> list[int]:
    return page.locator(SEQ).evaluate_all("items => items.map((item) => Number(item.dataset.seq))")


def _db_messages(room) -> list[tuple[int, str]]:
    return list(Message.objects.filter(room=room).order_by("seq").values_list("seq", "body"))


class Cuttable:
    """Proxies a page's room sockets to the server, and cuts them like a network would:
    `cut()` closes the open one and refuses new ones (they close at once) until `mend()`.
    While `deaf`, frames from the server are dropped on the way to the page."""

    def __init__(self):
        self.allowed = True
        self.deaf = False
        self.open = []
        self.refused = 0

    def handler(self, ws) -> None:
        if not self.allowed:
            self.refused += 1
            ws.close(code=4000, reason="network down")
            return
        server = ws.connect_to_server()
        server.on_message(lambda frame: None if self.deaf else ws.send(frame))
        self.open.append((ws, server))

    def cut(self) -> None:
        self.allowed = False
        # Both ends see the connection drop, as they would when a network fails.
        for ws, server in self.open:
            ws.close(code=4000, reason="network cut")
            server.close(code=1001, reason="network cut")
        self.open.clear()

    def mend(self) -> None:
        self.allowed = True


def test_two_members_chat_both_ways(daphne_server, chromium):
    room, (alice, bob) = _room(members=2)
    with _browsers(room) as stack:
        alice_page = _open_room(stack, chromium, daphne_server, alice, room)
        bob_page = _open_room(stack, chromium, daphne_server, bob, room)
        _connected(alice_page)
        _connected(bob_page)

        _say(alice_page, "Hello from Alice")
        expect(bob_page.locator(BODIES)).to_have_text(["Hello from Alice"])
        _say(bob_page, "Hello back from Bob")

        for page in (alice_page, bob_page):
            expect(page.locator(BODIES)).to_have_text(["Hello from Alice", "Hello back from Bob"])
            expect(page.locator(PENDING)).to_have_count(0)
            assert _seqs(page) == [1, 2]
        expect(bob_page.locator("[data-online] li")).to_have_text(
            sorted([alice.display_name, bob.display_name])
        )
    assert _db_messages(room) == [(1, "Hello from Alice"), (2, "Hello back from Bob")]


def test_typing_shows_to_the_others_until_the_message_arrives(daphne_server, chromium):
    room, (alice, bob) = _room(members=2)
    with _browsers(room) as stack:
        alice_page = _open_room(stack, chromium, daphne_server, alice, room)
        bob_page = _open_room(stack, chromium, daphne_server, bob, room)
        _connected(alice_page)
        _connected(bob_page)

        alice_page.locator("#composer-text").press_sequentially("Good mor")

        typing = f"{alice.display_name} is typing…"
        expect(bob_page.locator("[data-typing]")).to_have_text(typing)
        expect(alice_page.locator("[data-typing]")).to_have_text("")  # not to herself
        alice_page.locator("#composer-text").press_sequentially("ning")
        alice_page.locator("#composer-text").press("Enter")
        expect(bob_page.locator(BODIES)).to_have_text(["Good morning"])
        expect(bob_page.locator("[data-typing]")).to_have_text("")


def test_cut_connection_catches_up_in_order_and_sends_its_queue_once(daphne_server, chromium):
    room, (alice, bob) = _room(members=2)
    network = Cuttable()
    with _browsers(room) as stack:
        alice_page = _open_room(stack, chromium, daphne_server, alice, room, route=network)
        bob_page = _open_room(stack, chromium, daphne_server, bob, room)
        _connected(alice_page)
        _connected(bob_page)
        _say(alice_page, "a1")
        _say(bob_page, "b1")
        expect(alice_page.locator(BODIES)).to_have_text(["a1", "b1"])

        network.cut()
        expect(alice_page.locator("[data-connection]")).to_contain_text("Offline")
        for text in ("b2", "b3", "b4"):
            _say(bob_page, text)
        expect(bob_page.locator(BODIES)).to_have_text(["a1", "b1", "b2", "b3", "b4"])
        _say(alice_page, "typed while cut")
        expect(alice_page.locator(PENDING)).to_have_text(
            re.compile(r"Waiting for the connection…\s*typed while cut")
        )
        expect(alice_page.locator(BODIES)).to_have_text(["a1", "b1"])
        alice_page.wait_for_timeout(600)  # at least one reconnection attempt is refused
        assert network.refused >= 1

        network.mend()
        _say(bob_page, "b5 during the reconnect")

        everything = ["a1", "b1", "b2", "b3", "b4", "b5 during the reconnect", "typed while cut"]
        # Backoff: the next attempt comes within a few seconds of the mend.
        expect(alice_page.locator(PENDING)).to_have_count(0, timeout=15_000)
        expect(alice_page.locator(SEQ)).to_have_count(7)
        expect(alice_page.locator("[data-connection]")).to_have_text("Connected.")
        expect(bob_page.locator(SEQ)).to_have_count(7)

        db = _db_messages(room)
        assert [seq for seq, _body in db] == [1, 2, 3, 4, 5, 6, 7]
        assert sorted(body for _seq, body in db) == sorted(everything)
        assert Message.objects.filter(room=room, body="typed while cut").count() == 1
        for page in (alice_page, bob_page):
            assert _seqs(page) == [1, 2, 3, 4, 5, 6, 7]
            assert page.locator(BODIES).all_inner_texts() == [body for _seq, body in db]
            expect(page.locator(BODIES).filter(has_text="typed while cut")).to_have_count(1)


def test_changes_made_while_cut_show_after_reconnecting(daphne_server, chromium):
    room, (alice, bob) = _room(members=2)
    network = Cuttable()
    with _browsers(room) as stack:
        alice_page = _open_room(stack, chromium, daphne_server, alice, room, route=network)
        bob_page = _open_room(stack, chromium, daphne_server, bob, room)
        _connected(alice_page)
        _connected(bob_page)
        _say(bob_page, "first draft")
        _say(bob_page, "to be deleted")
        expect(alice_page.locator(BODIES)).to_have_text(["first draft", "to be deleted"])

        network.cut()
        expect(alice_page.locator("[data-connection]")).to_contain_text("Offline")
        bob_page.locator("#composer-text").press("ArrowUp")  # edits the last one
        bob_page.locator("form.edit textarea").press("Escape")
        first = bob_page.locator(f"{SEQ}").first
        first.get_by_role("button", name="Edit your message").click()
        bob_page.locator("form.edit textarea").fill("second draft")
        bob_page.locator("form.edit textarea").press("Enter")
        bob_page.once("dialog", lambda dialog: dialog.accept())
        bob_page.locator(SEQ).nth(1).get_by_role("button", name="Delete your message").click()
        expect(bob_page.locator(BODIES)).to_have_text(["second draft", "This message was deleted."])
        expect(alice_page.locator(BODIES)).to_have_text(["first draft", "to be deleted"])

        network.mend()

        expect(alice_page.locator(BODIES)).to_have_text(
            ["second draft", "This message was deleted."], timeout=15_000
        )
        expect(alice_page.locator(f"{SEQ} .message-meta")).to_contain_text(["(edited)", ""])


def test_lost_echo_then_cut_stores_and_shows_the_message_once(daphne_server, chromium):
    room, (alice,) = _room(members=1)
    network = Cuttable()
    with _browsers(room) as stack:
        page = _open_room(stack, chromium, daphne_server, alice, room, route=network)
        _connected(page)
        _say(page, "before")
        expect(page.locator(BODIES)).to_have_text(["before"])

        network.deaf = True
        _say(page, "stored, echo lost")
        stored = Message.objects.filter(room=room, body="stored, echo lost")
        for _ in range(50):  # the server stores it; the page never hears back
            if stored.exists():
                break
            page.wait_for_timeout(100)
        assert stored.count() == 1
        expect(page.locator(PENDING)).to_have_count(1)
        network.cut()
        network.deaf = False
        network.mend()

        expect(page.locator(PENDING)).to_have_count(0, timeout=10_000)
        expect(page.locator(BODIES)).to_have_text(["before", "stored, echo lost"])
        assert _seqs(page) == [1, 2]
        page.wait_for_timeout(300)  # the retry's answer, a duplicate, changes nothing
        expect(page.locator(BODIES)).to_have_text(["before", "stored, echo lost"])
    assert _db_messages(room) == [(1, "before"), (2, "stored, echo lost")]


def test_reloaded_page_drops_an_old_stored_message_from_its_outbox(daphne_server, chromium):
    # A tab reloaded after its message was stored but before the echo came, and more than a
    # page of messages followed: the retry's answer is older than anything shown.
    room, (alice, bob) = _room(members=2)
    start = timezone.now() - timedelta(hours=1)
    Message.objects.bulk_create(
        Message(
            room=room,
            seq=seq,
            author=alice if seq == 1 else bob,
            client_id=f"old-{seq}",
            body=f"message {seq}",
            created_at=start + timedelta(seconds=seq),
        )
        for seq in range(1, 61)
    )
    Room.objects.filter(pk=room.pk).update(last_seq=60)
    outbox = [{"client_id": "old-1", "body": "message 1", "sentAt": 0}]
    with _browsers(room) as stack:
        context = chromium.new_context(locale="en-CA", timezone_id="America/Toronto")
        stack.callback(context.close)
        context.add_init_script(
            f"sessionStorage.setItem('room-outbox-{room.pk}', {json.dumps(json.dumps(outbox))})"
        )
        page = _open_room_in(context, daphne_server, alice, room)
        _connected(page)

        expect(page.locator(SEQ)).to_have_count(50)
        expect(page.locator(PENDING)).to_have_count(0)
        expect(page.locator("[data-composer-error]")).to_have_text("")
        expect(page.locator("#composer-text")).to_have_value("")
        assert page.evaluate(f"sessionStorage.getItem('room-outbox-{room.pk}')") == "[]"
    assert Message.objects.filter(room=room).count() == 60


@pytest.fixture
def daphne_strict_rate(transactional_db, tmp_path):
    """The real server allowing 2 messages in 3 seconds per user."""
    with run_daphne(
        tmp_path / "daphne.log",
        DATABASE_URL=database_url_for_tests(),
        ROOM_RATE_LIMIT_MESSAGES="2",
        ROOM_RATE_LIMIT_SECONDS="3",
    ) as base:
        yield base


def test_rate_limited_message_waits_as_told_then_goes_once(daphne_strict_rate, chromium):
    room, (alice,) = _room(members=1)
    sends = []  # (monotonic time, client_id) of each message.send the page makes
    refusals = {}  # client_id -> [(monotonic time, retry_after), ...]

    def handler(ws):
        server = ws.connect_to_server()

        def to_server(text):
            frame = json.loads(text)
            if frame["type"] == "message.send":
                sends.append((time.monotonic(), frame["client_id"]))
            server.send(text)

        def to_page(text):
            frame = json.loads(text)
            if frame["type"] == "error" and frame["code"] == "rate_limited":
                refusals.setdefault(frame["client_id"], []).append(
                    (time.monotonic(), frame["retry_after"])
                )
            ws.send(text)

        ws.on_message(to_server)
        server.on_message(to_page)

    with _browsers(room) as stack:
        context = chromium.new_context(locale="en-CA", timezone_id="America/Toronto")
        stack.callback(context.close)
        context.route_web_socket(re.compile(r"/ws/rooms/\d+/"), handler)
        page = _open_room_in(context, daphne_strict_rate, alice, room)
        _connected(page)

        for text in ("one", "two", "three"):
            _say(page, text)
        expect(page.locator(BODIES)).to_have_text(["one", "two"])
        expect(page.locator(PENDING)).to_have_text([re.compile("three")])
        expect(page.locator("[data-composer-error]")).to_have_text(
            "You are sending messages too fast. Wait a few seconds."
        )
        expect(page.locator(BODIES)).to_have_text(["one", "two", "three"], timeout=8_000)
        expect(page.locator(PENDING)).to_have_count(0)
        expect(page.locator("[data-composer-error]")).to_have_text("")

    assert len(refusals) == 1
    [(client_id, refused)] = refusals.items()
    retries = [at for at, sent in sends if sent == client_id][1:]
    # One retry per refusal, each no sooner than the server said (the proxy's clock lags a
    # little either way).
    assert len(retries) == len(refused)
    for (refused_at, retry_after), retried_at in zip(refused, retries, strict=True):
        assert retried_at - refused_at >= retry_after - 0.3
    assert _db_messages(room) == [(1, "one"), (2, "two"), (3, "three")]


def test_keyboard_sends_breaks_lines_edits_last_message_and_cancels(daphne_server, chromium):
    room, (alice, bob) = _room(members=2)
    with _browsers(room) as stack:
        page = _open_room(stack, chromium, daphne_server, alice, room)
        bob_page = _open_room(stack, chromium, daphne_server, bob, room)
        _connected(page)
        _connected(bob_page)
        composer = page.locator("#composer-text")

        composer.focus()
        page.keyboard.type("line one")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("line two")
        expect(composer).to_have_value("line one\nline two")
        page.keyboard.press("Enter")

        expect(page.locator(BODIES)).to_have_text(["line one\nline two"])
        expect(composer).to_have_value("")
        assert page.locator("#m-1 .message-body").inner_text() == "line one\nline two"
        page.keyboard.type("second")
        page.keyboard.press("Enter")
        expect(page.locator(BODIES)).to_have_text(["line one\nline two", "second"])

        page.keyboard.press("ArrowUp")
        edit = page.locator("#m-2 form.edit textarea")
        expect(edit).to_be_focused()
        expect(edit).to_have_value("second")
        page.keyboard.type(" draft")
        # Someone else speaking meanwhile does not throw the edit away.
        _say(bob_page, "interruption")
        expect(page.locator(SEQ)).to_have_count(3)
        expect(edit).to_have_value("second draft")
        expect(edit).to_be_focused()

        page.keyboard.press("Escape")
        expect(page.locator("form.edit")).to_have_count(0)
        expect(page.locator(BODIES)).to_have_text(["line one\nline two", "second", "interruption"])
        expect(composer).to_be_focused()

        page.keyboard.press("ArrowUp")
        expect(edit).to_be_focused()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type("second, edited")
        page.keyboard.press("Enter")
        expect(page.locator("#m-2 .message-body")).to_have_text("second, edited")
        expect(page.locator("#m-2 .message-meta")).to_contain_text("(edited)")
        expect(bob_page.locator("#m-2 .message-body")).to_have_text("second, edited")
    assert _db_messages(room) == [
        (1, "line one\nline two"),
        (2, "second, edited"),
        (3, "interruption"),
    ]


def test_links_become_safe_anchors_and_html_stays_text(daphne_server, chromium):
    room, (alice,) = _room(members=1, user__display_name="<i>Dr. Italic</i>")
    with _browsers(room) as stack:
        page = _open_room(stack, chromium, daphne_server, alice, room)
        _connected(page)

        _say(page, "Guide: https://example.org/guide?a=1&b=2, read it.")
        _say(page, "<b>x</b> <img src=x onerror=alert(1)>")
        _say(page, "javascript:alert(1) and http://example.org/plain")

        expect(page.locator(SEQ)).to_have_count(3)
        first = page.locator("#m-1 .message-body")
        expect(first).to_have_text("Guide: https://example.org/guide?a=1&b=2, read it.")
        anchor = first.locator("a")
        expect(anchor).to_have_count(1)
        expect(anchor).to_have_attribute("href", "https://example.org/guide?a=1&b=2")
        expect(anchor).to_have_text("https://example.org/guide?a=1&b=2")
        assert set(anchor.get_attribute("rel").split()) >= {"noopener", "noreferrer", "nofollow"}

        second = page.locator("#m-2 .message-body")
        expect(second).to_have_text("<b>x</b> <img src=x onerror=alert(1)>")
        expect(second).to_be_visible()
        expect(second.locator("b")).to_have_count(0)
        expect(second.locator("img")).to_have_count(0)

        third = page.locator("#m-3 .message-body a")
        expect(third).to_have_count(1)
        expect(third).to_have_attribute("href", "http://example.org/plain")

        expect(page.locator("#m-1 .message-meta strong")).to_have_text("<i>Dr. Italic</i>")
        expect(page.locator("[data-messages] i")).to_have_count(0)
        expect(page.locator(f"{SEQ} a[href]:not([href^='http'])")).to_have_count(0)


def test_room_page_in_french_for_a_french_speaking_member(daphne_server, chromium):
    room, (amelie,) = _room(members=1, user__language="fr")
    with _browsers(room) as stack:
        page = _open_room(stack, chromium, daphne_server, amelie, room, locale="fr-CA")

        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("#room")).to_have_attribute("data-language", "fr")
        # Connected (the wording is the catalogue's business): the member is listed online.
        expect(page.locator("[data-online] li")).to_have_text([amelie.display_name])
