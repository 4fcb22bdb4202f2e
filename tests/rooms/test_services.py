"""The rooms services: each write, each refusal (a stable code, nothing changed), and the
events sent after commit.

Events are checked by running the captured on-commit callbacks while a listener sits in
the group on the real channel layer (in-memory, or Redis with REDIS_URL), so what is
asserted is exactly what consumers would receive. Where nothing may be sent, no callback
may be scheduled at all.
"""

import asyncio
import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from communities import services as community_services
from communities.enums import JoinPolicy, MembershipStatus
from live.events import publisher
from rooms import services
from rooms.enums import RoomKind
from rooms.models import Message, Presence, Report, Room
from rooms.selectors import message_frame
from rooms.services import RoomError
from tests.factories import (
    CommunityFactory,
    MembershipFactory,
    MessageFactory,
    RoomFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


MARK = {"type": "test.mark"}


def sent(group: str, callbacks) -> list[dict]:
    """Run on-commit `callbacks` while listening to `group` on the channel layer; the
    events that arrived, in order, with any frame they carry decoded.

    A mark sent before the callbacks proves the listener is subscribed (Redis pub/sub
    drops what nobody hears); one sent after them arrives after everything they sent."""

    async def listen():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await layer.group_send(group, MARK)
            assert await asyncio.wait_for(layer.receive(channel), 5) == MARK
            for callback in callbacks:
                await sync_to_async(callback)()
            # Threads hand their events to the loop's publisher: let it send them first.
            assert await publisher(asyncio.get_running_loop()).drain(5)
            await layer.group_send(group, MARK)
            events = []
            while (event := await asyncio.wait_for(layer.receive(channel), 5)) != MARK:
                events.append(event)
            return events
        finally:
            await layer.group_discard(group, channel)

    events = async_to_sync(listen)()
    for event in events:
        assert event.pop("sent_at", 0) <= time.time()  # stamped when sent, for the hub's lag
    return [
        {**event, "text": json.loads(event["text"])} if "text" in event else event
        for event in events
    ]


def frame_event(frame: dict, room, **routing) -> dict:
    return {"type": "live.frame", "group": f"room.{room.pk}", "text": frame, **routing}


def refused(error_info) -> tuple:
    return error_info.value.code, error_info.value.extra


def stored(room) -> list[tuple]:
    return list(
        Message.objects.filter(room=room)
        .order_by("seq")
        .values_list(
            "seq", "author_id", "client_id", "body", "edited_at", "deleted_at", "hidden_at"
        )
    )


@pytest.fixture
def manager(room):
    return MembershipFactory(community=room.community, role="manager").user


@pytest.fixture
def message(room, member):
    return MessageFactory(room=room, author=member, body="Original words")


# Rooms ----------------------------------------------------------------------------------


def test_room_get_or_create_for_community_makes_one_room():
    community = CommunityFactory(name="Rural Medicine")

    first = services.room_get_or_create_for_community(community=community)
    second = services.room_get_or_create_for_community(community=community)

    assert first == second
    assert (first.title, first.kind, first.last_seq) == ("Rural Medicine", RoomKind.COMMUNITY, 0)
    assert Room.objects.filter(community=community).count() == 1


def test_room_create_makes_a_meeting_side_chat(room):
    side_chat = services.room_create(
        community=room.community, kind=RoomKind.MEETING, title="Journal club, March"
    )

    assert Room.objects.filter(community=room.community).count() == 2
    assert (side_chat.kind, side_chat.title) == (RoomKind.MEETING, "Journal club, March")


def test_room_create_refuses_an_unknown_kind(room):
    with pytest.raises(ValidationError):
        services.room_create(community=room.community, kind="lobby", title="Lobby")

    assert Room.objects.filter(community=room.community).count() == 1


# Sending --------------------------------------------------------------------------------


def test_message_send_stores_trimmed_body_with_next_seq(room, member):
    message, created = services.message_send(
        user=member, room_id=room.pk, body="  Hello, room \n", client_id="c-1"
    )

    assert created is True
    assert stored(room) == [(1, member.pk, "c-1", "Hello, room", None, None, None)]
    assert message.seq == 1
    room.refresh_from_db()
    assert room.last_seq == 1


def test_message_send_numbers_follow_on_without_gaps(room, member):
    other = MembershipFactory(community=room.community).user

    for n, author in enumerate([member, other, member, other]):
        services.message_send(user=author, room_id=room.pk, body=f"Number {n}", client_id=f"{n}")

    assert [row[0] for row in stored(room)] == [1, 2, 3, 4]


def test_message_send_numbers_each_room_on_its_own(room, member):
    other_room = RoomFactory()
    MembershipFactory(community=other_room.community, user=member)
    services.message_send(user=member, room_id=room.pk, body="Here", client_id="a")

    message, _created = services.message_send(
        user=member, room_id=other_room.pk, body="There", client_id="a"
    )

    assert message.seq == 1
    assert [row[0] for row in stored(room)] == [1]


def test_message_send_broadcasts_message_new_after_commit(
    room, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        message, _created = services.message_send(
            user=member, room_id=room.pk, body="Hello", client_id="c-1"
        )

    assert len(callbacks) == 1
    assert sent(room.group_name, callbacks) == [
        frame_event({"type": "message.new", "message": message_frame(message)}, room, seq=1)
    ]


def test_message_send_event_is_json(room, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.message_send(user=member, room_id=room.pk, body="Hello", client_id="c-1")

    [event] = sent(room.group_name, callbacks)
    assert json.loads(json.dumps(event)) == event
    assert event["text"]["message"]["created_at"].endswith("Z")


def test_message_send_in_rolled_back_transaction_sends_nothing(
    room, member, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.message_send(user=member, room_id=room.pk, body="Oops", client_id="c-1")
        raise RuntimeError("the caller fails after sending")

    assert callbacks == []
    assert stored(room) == []
    room.refresh_from_db()
    assert room.last_seq == 0


def test_message_send_after_rollback_leaves_no_gap(room, member):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_send(user=member, room_id=room.pk, body="Lost", client_id="lost")
        raise RuntimeError

    message, _created = services.message_send(
        user=member, room_id=room.pk, body="Kept", client_id="kept"
    )

    assert message.seq == 1


def test_message_send_retry_returns_original_and_sends_nothing(
    room, member, django_capture_on_commit_callbacks, django_assert_num_queries
):
    original, _created = services.message_send(
        user=member, room_id=room.pk, body="Once", client_id="same"
    )

    with django_capture_on_commit_callbacks() as callbacks:
        again, created = services.message_send(
            user=member, room_id=room.pk, body="Twice?", client_id="same"
        )

    assert (created, again.pk, again.seq, again.body) == (False, original.pk, 1, "Once")
    assert callbacks == []
    assert stored(room) == [(1, member.pk, "same", "Once", None, None, None)]
    # The socket builds the retry's answer outside a database thread: the author is loaded.
    with django_assert_num_queries(0):
        assert message_frame(again)["author"] == {"id": member.pk, "name": member.display_name}


def test_message_send_retry_of_an_empty_body_still_answers(room, member):
    services.message_send(user=member, room_id=room.pk, body="Sent", client_id="same")

    again, created = services.message_send(
        user=member, room_id=room.pk, body="   ", client_id="same"
    )

    assert (created, again.body) == (False, "Sent")


def test_message_send_same_client_id_from_another_author_is_a_new_message(room, member):
    other = MembershipFactory(community=room.community).user
    services.message_send(user=member, room_id=room.pk, body="Mine", client_id="same")

    message, created = services.message_send(
        user=other, room_id=room.pk, body="Theirs", client_id="same"
    )

    assert (created, message.seq) == (True, 2)


@pytest.mark.parametrize(
    "status",
    [MembershipStatus.PENDING, MembershipStatus.LEFT, MembershipStatus.REMOVED, None],
)
def test_message_send_refused_to_non_members(room, status):
    user = UserFactory()
    if status is not None:
        MembershipFactory(community=room.community, user=user, status=status)

    with pytest.raises(RoomError) as error:
        services.message_send(user=user, room_id=room.pk, body="Hi", client_id="c")

    assert refused(error) == ("not_member", {})
    assert stored(room) == []


def test_message_send_refused_after_leaving(room, member):
    community_services.membership_leave(user=member, community=room.community)

    with pytest.raises(RoomError) as error:
        services.message_send(user=member, room_id=room.pk, body="Still here?", client_id="c")

    assert refused(error) == ("not_member", {})
    assert stored(room) == []


def test_message_send_refused_after_removal(room, member, manager):
    membership = member.memberships.get(community=room.community)
    community_services.membership_remove(actor=manager, membership=membership)

    with pytest.raises(RoomError) as error:
        services.message_send(user=member, room_id=room.pk, body="Still here?", client_id="c")

    assert refused(error) == ("not_member", {})


def test_message_send_refused_in_invitation_only_room_to_non_member():
    room = RoomFactory(community=CommunityFactory(join_policy=JoinPolicy.INVITATION))

    with pytest.raises(RoomError) as error:
        services.message_send(user=UserFactory(), room_id=room.pk, body="Hi", client_id="c")

    assert refused(error) == ("not_member", {})


def test_message_send_by_staff_non_member_is_stored(room):
    staff = UserFactory(is_staff=True)

    message, created = services.message_send(
        user=staff, room_id=room.pk, body="From the site", client_id="c"
    )

    assert (created, message.seq, message.author_id) == (True, 1, staff.pk)


@pytest.mark.parametrize("body", ["", "   ", "\n\t "])
def test_message_send_refuses_an_empty_body(room, member, body):
    with pytest.raises(RoomError) as error:
        services.message_send(user=member, room_id=room.pk, body=body, client_id="c")

    assert refused(error) == ("empty_body", {})
    assert stored(room) == []


def test_message_send_refuses_a_body_over_4000_characters(room, member):
    with pytest.raises(RoomError) as error:
        services.message_send(user=member, room_id=room.pk, body="x" * 4001, client_id="c")

    assert refused(error) == ("body_too_long", {"max": 4000})
    assert stored(room) == []


def test_message_send_takes_4000_characters(room, member):
    message, _created = services.message_send(
        user=member, room_id=room.pk, body=" " + "x" * 4000 + " ", client_id="c"
    )

    assert len(message.body) == 4000


# Rate limit -----------------------------------------------------------------------------


@pytest.fixture
def three_per_ten_seconds(settings):
    settings.ROOM_RATE_LIMIT_MESSAGES = 3
    settings.ROOM_RATE_LIMIT_SECONDS = 10


def test_message_send_fourth_in_window_is_rate_limited(room, member, three_per_ten_seconds):
    for n in range(3):
        services.message_send(user=member, room_id=room.pk, body="Hi", client_id=f"{n}")

    with pytest.raises(RoomError) as error:
        services.message_send(user=member, room_id=room.pk, body="Hi", client_id="too-many")

    assert error.value.code == "rate_limited"
    assert 0 < error.value.extra["retry_after"] <= 10
    assert [row[0] for row in stored(room)] == [1, 2, 3]
    room.refresh_from_db()
    assert room.last_seq == 3


def test_message_send_rate_limit_counts_every_room(room, member, three_per_ten_seconds):
    other_room = RoomFactory()
    MembershipFactory(community=other_room.community, user=member)
    MessageFactory.create_batch(3, room=other_room, author=member)

    with pytest.raises(RoomError) as error:
        services.message_send(user=member, room_id=room.pk, body="Hi", client_id="c")

    assert error.value.code == "rate_limited"
    assert stored(room) == []


def test_message_send_rate_limit_is_per_user(room, member, three_per_ten_seconds):
    other = MembershipFactory(community=room.community).user
    MessageFactory.create_batch(3, room=room, author=other)

    message, created = services.message_send(user=member, room_id=room.pk, body="Hi", client_id="c")

    assert (created, message.seq) == (True, 4)


def test_message_send_rate_limit_forgets_old_messages(room, member, three_per_ten_seconds):
    long_ago = timezone.now() - timedelta(seconds=11)
    MessageFactory.create_batch(3, room=room, author=member, created_at=long_ago)

    message, created = services.message_send(user=member, room_id=room.pk, body="Hi", client_id="c")

    assert (created, message.seq) == (True, 4)


def test_message_send_retry_after_counts_from_the_oldest(room, member, three_per_ten_seconds):
    now = timezone.now()
    for age in (8, 5, 1):
        MessageFactory(room=room, author=member, created_at=now - timedelta(seconds=age))

    with pytest.raises(RoomError) as error:
        services.message_send(user=member, room_id=room.pk, body="Hi", client_id="c")

    assert 1.5 <= error.value.extra["retry_after"] <= 2.0


def test_message_send_retry_is_not_rate_limited(room, member, three_per_ten_seconds):
    for n in range(3):
        services.message_send(user=member, room_id=room.pk, body="Hi", client_id=f"{n}")

    again, created = services.message_send(user=member, room_id=room.pk, body="Hi", client_id="2")

    assert (created, again.seq) == (False, 3)


# Editing and deleting -------------------------------------------------------------------


def test_message_edit_own_changes_body_and_broadcasts(
    room, member, message, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        edited = services.message_edit(user=member, room_id=room.pk, seq=1, body="  Better  ")

    message.refresh_from_db()
    assert (message.body, message.edited_at) == ("Better", edited.edited_at)
    assert message.edited_at is not None
    assert sent(room.group_name, callbacks) == [
        frame_event({"type": "message.updated", "message": message_frame(message)}, room)
    ]


def test_message_edit_of_someone_elses_refused_not_author(room, message, manager):
    before = stored(room)

    with pytest.raises(RoomError) as error:
        services.message_edit(user=manager, room_id=room.pk, seq=1, body="Managed")

    assert refused(error) == ("not_author", {})
    assert stored(room) == before


def test_message_edit_of_missing_message_refused_not_found(room, member, message):
    with pytest.raises(RoomError) as error:
        services.message_edit(user=member, room_id=room.pk, seq=2, body="Where?")

    assert refused(error) == ("not_found", {})


def test_message_edit_does_not_reach_into_another_room(room, member, message):
    other_room = RoomFactory()
    MembershipFactory(community=other_room.community, user=member)

    with pytest.raises(RoomError) as error:
        services.message_edit(user=member, room_id=other_room.pk, seq=1, body="Elsewhere")

    assert refused(error) == ("not_found", {})
    assert stored(room)[0][3] == "Original words"


@pytest.mark.parametrize("gone", ["deleted_at", "hidden_at"])
def test_message_edit_of_removed_message_refused_not_editable(room, member, gone):
    MessageFactory(room=room, author=member, **{gone: timezone.now()})
    before = stored(room)

    with pytest.raises(RoomError) as error:
        services.message_edit(user=member, room_id=room.pk, seq=1, body="Back again")

    assert refused(error) == ("not_editable", {})
    assert stored(room) == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [("  ", ("empty_body", {})), ("x" * 4001, ("body_too_long", {"max": 4000}))],
    ids=["empty", "too-long"],
)
def test_message_edit_refuses_a_bad_body(room, member, message, body, expected):
    before = stored(room)

    with pytest.raises(RoomError) as error:
        services.message_edit(user=member, room_id=room.pk, seq=1, body=body)

    assert refused(error) == expected
    assert stored(room) == before


def test_message_edit_after_leaving_refused_not_member(room, member, message):
    community_services.membership_leave(user=member, community=room.community)

    with pytest.raises(RoomError) as error:
        services.message_edit(user=member, room_id=room.pk, seq=1, body="Later")

    assert refused(error) == ("not_member", {})


def test_message_delete_own_keeps_its_place_and_broadcasts(
    room, member, message, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.message_delete(user=member, room_id=room.pk, seq=1)

    message.refresh_from_db()
    assert message.deleted_at is not None
    assert message.body == "Original words"  # kept for moderation; clients get ""
    [event] = sent(room.group_name, callbacks)
    assert event == frame_event(
        {"type": "message.updated", "message": message_frame(message)}, room
    )
    assert (event["text"]["message"]["deleted"], event["text"]["message"]["body"]) == (True, "")


def test_message_delete_twice_sends_once(room, member, message, django_capture_on_commit_callbacks):
    services.message_delete(user=member, room_id=room.pk, seq=1)
    deleted_at = Message.objects.get(pk=message.pk).deleted_at

    with django_capture_on_commit_callbacks() as callbacks:
        services.message_delete(user=member, room_id=room.pk, seq=1)

    assert callbacks == []
    assert Message.objects.get(pk=message.pk).deleted_at == deleted_at


def test_message_delete_of_someone_elses_refused_not_author(room, message, manager):
    with pytest.raises(RoomError) as error:
        services.message_delete(user=manager, room_id=room.pk, seq=1)

    assert refused(error) == ("not_author", {})
    assert Message.objects.get(pk=message.pk).deleted_at is None


# Hiding and restoring -------------------------------------------------------------------


def test_message_hide_by_manager_broadcasts_hidden(
    room, message, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.message_hide(user=manager, room_id=room.pk, seq=1)

    message.refresh_from_db()
    assert message.hidden_by == manager
    assert message.hidden_at is not None
    [event] = sent(room.group_name, callbacks)
    assert event == frame_event(
        {"type": "message.updated", "message": message_frame(message)}, room
    )
    assert (event["text"]["message"]["hidden"], event["text"]["message"]["body"]) == (True, "")


def test_message_hide_by_staff_non_member(room, message):
    staff = UserFactory(is_staff=True)

    services.message_hide(user=staff, room_id=room.pk, seq=1)

    assert Message.objects.get(pk=message.pk).hidden_by == staff


def test_message_hide_twice_sends_once(room, message, manager, django_capture_on_commit_callbacks):
    services.message_hide(user=manager, room_id=room.pk, seq=1)

    with django_capture_on_commit_callbacks() as callbacks:
        services.message_hide(user=manager, room_id=room.pk, seq=1)

    assert callbacks == []


@pytest.mark.parametrize("hidden", [True, False])
def test_message_hide_by_member_refused_not_allowed(room, member, hidden):
    MessageFactory(room=room, author=member, hidden_at=None if hidden else timezone.now())
    before = stored(room)

    with pytest.raises(RoomError) as error:
        services.message_hide(user=member, room_id=room.pk, seq=1, hidden=hidden)

    assert refused(error) == ("not_allowed", {})
    assert stored(room) == before


def test_message_restore_clears_hidden_closes_reports_and_broadcasts(
    room, member, message, manager, django_capture_on_commit_callbacks
):
    reporter = MembershipFactory(community=room.community).user
    services.message_report(user=reporter, room_id=room.pk, seq=1, reason="Rude")
    services.message_hide(user=manager, room_id=room.pk, seq=1)

    with django_capture_on_commit_callbacks() as callbacks:
        services.message_hide(user=manager, room_id=room.pk, seq=1, hidden=False)

    message.refresh_from_db()
    assert (message.hidden_at, message.hidden_by) == (None, None)
    report = Report.objects.get()
    assert report.resolved_by == manager
    assert report.resolved_at is not None
    [event] = sent(room.group_name, callbacks)
    assert event == frame_event(
        {"type": "message.updated", "message": message_frame(message)}, room
    )
    assert (event["text"]["message"]["hidden"], event["text"]["message"]["body"]) == (
        False,
        "Original words",
    )


def test_message_restore_of_visible_message_changes_nothing(
    room, message, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.message_hide(user=manager, room_id=room.pk, seq=1, hidden=False)

    assert callbacks == []


# Reports --------------------------------------------------------------------------------


def test_message_report_stores_report_and_tells_nobody(
    room, message, django_capture_on_commit_callbacks
):
    reporter = MembershipFactory(community=room.community).user

    with django_capture_on_commit_callbacks() as callbacks:
        report = services.message_report(user=reporter, room_id=room.pk, seq=1, reason="  Spam  ")

    assert callbacks == []
    assert list(Report.objects.values_list("message_id", "reporter_id", "reason")) == [
        (message.pk, reporter.pk, "Spam")
    ]
    assert report.resolved_at is None


def test_message_report_again_replaces_reason_and_reopens(room, message, manager):
    reporter = MembershipFactory(community=room.community).user
    services.message_report(user=reporter, room_id=room.pk, seq=1, reason="Off topic")
    services.reports_dismiss(user=manager, message=message)

    services.message_report(user=reporter, room_id=room.pk, seq=1, reason="Insulting")

    report = Report.objects.get()
    assert (report.reason, report.resolved_at, report.resolved_by) == ("Insulting", None, None)


def test_message_report_takes_500_characters(room, member, message):
    services.message_report(user=member, room_id=room.pk, seq=1, reason="r" * 500)

    assert len(Report.objects.get().reason) == 500


@pytest.mark.parametrize(
    ("seq", "reason", "code"),
    [
        (1, "", "empty_reason"),
        (1, "   ", "empty_reason"),
        (1, "r" * 501, "reason_too_long"),
        (2, "Spam", "not_found"),
    ],
    ids=["empty", "spaces", "too-long", "missing"],
)
def test_message_report_refusals(room, member, message, seq, reason, code):
    with pytest.raises(RoomError) as error:
        services.message_report(user=member, room_id=room.pk, seq=seq, reason=reason)

    assert error.value.code == code
    assert Report.objects.count() == 0


def test_message_report_by_non_member_refused_not_member(room, message):
    with pytest.raises(RoomError) as error:
        services.message_report(user=UserFactory(), room_id=room.pk, seq=1, reason="Spam")

    assert refused(error) == ("not_member", {})
    assert Report.objects.count() == 0


def test_reports_dismiss_closes_open_reports_only(room, message, manager):
    first, second = MembershipFactory.create_batch(2, community=room.community)
    services.message_report(user=first.user, room_id=room.pk, seq=1, reason="One")
    services.reports_dismiss(user=manager, message=message)
    closed_at = Report.objects.get(reporter=first.user).resolved_at
    services.message_report(user=second.user, room_id=room.pk, seq=1, reason="Two")

    count = services.reports_dismiss(user=manager, message=message)

    assert count == 1
    assert Report.objects.get(reporter=first.user).resolved_at == closed_at
    assert Report.objects.filter(resolved_at__isnull=True).count() == 0
    assert Message.objects.get(pk=message.pk).hidden_at is None


def test_reports_dismiss_by_member_refused_not_allowed(room, member, message):
    services.message_report(user=member, room_id=room.pk, seq=1, reason="Spam")

    with pytest.raises(RoomError) as error:
        services.reports_dismiss(user=member, message=message)

    assert refused(error) == ("not_allowed", {})
    assert Report.objects.filter(resolved_at__isnull=True).count() == 1


# Presence -------------------------------------------------------------------------------


def presence_event(room) -> dict:
    """Who is online changed; the hubs read the list themselves."""
    return {"type": "live.presence", "group": f"room.{room.pk}"}


def test_presence_join_of_first_tab_announces(room, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.presence_join(user=member, room_id=room.pk, channel_name="tab.one")

    assert sent(room.group_name, callbacks) == [presence_event(room)]
    assert list(Presence.objects.values_list("user_id", "channel_name")) == [(member.pk, "tab.one")]


def test_presence_join_of_second_tab_is_silent(room, member, django_capture_on_commit_callbacks):
    services.presence_join(user=member, room_id=room.pk, channel_name="tab.one")

    with django_capture_on_commit_callbacks() as callbacks:
        services.presence_join(user=member, room_id=room.pk, channel_name="tab.two")

    assert callbacks == []
    assert Presence.objects.filter(user=member).count() == 2


def test_presence_leave_of_last_tab_announces(room, member, django_capture_on_commit_callbacks):
    other = MembershipFactory(community=room.community).user
    services.presence_join(user=other, room_id=room.pk, channel_name="other.tab")
    services.presence_join(user=member, room_id=room.pk, channel_name="tab.one")

    with django_capture_on_commit_callbacks() as callbacks:
        services.presence_leave(room_id=room.pk, channel_name="tab.one")

    assert sent(room.group_name, callbacks) == [presence_event(room)]


def test_presence_leave_also_sweeps_dead_connections(room, member):
    """The last live connection to leave a room takes dead processes' ghosts with it:
    no heartbeat is left in the room to sweep them."""
    ghost = MembershipFactory(community=room.community).user
    stale = timezone.now() - timedelta(minutes=5)
    Presence.objects.create(room=room, user=ghost, channel_name="killed", last_seen=stale)
    services.presence_join(user=member, room_id=room.pk, channel_name="tab")

    services.presence_leave(room_id=room.pk, channel_name="tab")

    assert Presence.objects.count() == 0


def test_presence_leave_of_one_tab_of_two_is_silent(
    room, member, django_capture_on_commit_callbacks
):
    services.presence_join(user=member, room_id=room.pk, channel_name="tab.one")
    services.presence_join(user=member, room_id=room.pk, channel_name="tab.two")

    with django_capture_on_commit_callbacks() as callbacks:
        services.presence_leave(room_id=room.pk, channel_name="tab.one")

    assert callbacks == []
    assert list(Presence.objects.values_list("channel_name", flat=True)) == ["tab.two"]


def test_presence_beat_refreshes_silently(room, member, django_capture_on_commit_callbacks):
    earlier = timezone.now() - timedelta(seconds=10)
    Presence.objects.create(room=room, user=member, channel_name="tab", last_seen=earlier)

    with django_capture_on_commit_callbacks() as callbacks:
        services.presence_beat(connections={"tab": (room.pk, member.pk)})

    assert callbacks == []
    assert Presence.objects.get().last_seen > earlier


def test_presence_beat_recreates_a_swept_connection(
    room, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        beat = services.presence_beat(connections={"tab": (room.pk, member.pk)})

    assert list(Presence.objects.values_list("user_id", "channel_name")) == [(member.pk, "tab")]
    # The beat's own answer tells this process's sockets; other processes at their beat.
    assert callbacks == []
    assert beat == {room.pk: (0, [{"id": member.pk, "name": member.display_name}])}


def test_presence_beat_sweeps_a_dead_process_connection(
    room, member, django_capture_on_commit_callbacks
):
    gone = MembershipFactory(community=room.community).user
    Presence.objects.create(room=room, user=member, channel_name="live.tab")
    Presence.objects.create(
        room=room,
        user=gone,
        channel_name="killed.process",
        last_seen=timezone.now() - timedelta(minutes=5),
    )

    with django_capture_on_commit_callbacks() as callbacks:
        services.presence_beat(connections={"live.tab": (room.pk, member.pk)})

    assert list(Presence.objects.values_list("channel_name", flat=True)) == ["live.tab"]
    assert len(callbacks) == 1
    assert sent(room.group_name, callbacks) == [presence_event(room)]


def test_presence_beat_sweeps_a_dead_tab_of_someone_still_online(
    room, member, django_capture_on_commit_callbacks
):
    Presence.objects.create(room=room, user=member, channel_name="live.tab")
    Presence.objects.create(
        room=room,
        user=member,
        channel_name="killed.tab",
        last_seen=timezone.now() - timedelta(minutes=5),
    )

    with django_capture_on_commit_callbacks() as callbacks:
        services.presence_beat(connections={"live.tab": (room.pk, member.pk)})

    assert callbacks == []
    assert list(Presence.objects.values_list("channel_name", flat=True)) == ["live.tab"]


def test_presence_beat_leaves_other_rooms_alone(room, member):
    other_room = RoomFactory()
    stale = timezone.now() - timedelta(minutes=5)
    Presence.objects.create(room=other_room, user=member, channel_name="there", last_seen=stale)

    beat = services.presence_beat(connections={"here": (room.pk, member.pk)})

    assert sorted(Presence.objects.values_list("channel_name", flat=True)) == ["here", "there"]
    assert beat == {room.pk: (0, [{"id": member.pk, "name": member.display_name}])}


def test_presence_beat_refreshes_a_whole_process_in_one_call(room, member):
    """One call per server process and heartbeat, whatever its number of sockets: every
    socket refreshed, and each room's last seq and who is online for its heartbeat."""
    other_room = RoomFactory()
    other = MembershipFactory(community=other_room.community).user
    earlier = timezone.now() - timedelta(seconds=30)
    for name, room_id, user in [("a", room.pk, member), ("b", other_room.pk, other)]:
        Presence.objects.create(room_id=room_id, user=user, channel_name=name, last_seen=earlier)
    Room.objects.filter(pk=other_room.pk).update(last_seq=7)

    beat = services.presence_beat(
        connections={
            "a": (room.pk, member.pk),
            "b": (other_room.pk, other.pk),
            "c": (other_room.pk, other.pk),  # swept meanwhile: recreated
        }
    )

    assert beat == {
        room.pk: (0, [{"id": member.pk, "name": member.display_name}]),
        other_room.pk: (7, [{"id": other.pk, "name": other.display_name}]),
    }
    rows = Presence.objects.order_by("channel_name").values_list("channel_name", "last_seen")
    assert [name for name, _seen in rows] == ["a", "b", "c"]
    assert all(seen > earlier for _name, seen in rows)


# Membership ends: the kick --------------------------------------------------------------


def test_membership_leave_kicks_the_users_sockets_after_commit(
    room, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        community_services.membership_leave(user=member, community=room.community)

    assert sent(f"user.{member.pk}", callbacks) == [
        {
            "type": "live.kick",
            "user": member.pk,
            "tag": f"community.{room.community_id}",
            "code": 4403,
        }
    ]


def test_membership_remove_kicks_the_users_sockets_after_commit(
    room, member, manager, django_capture_on_commit_callbacks
):
    membership = member.memberships.get(community=room.community)

    with django_capture_on_commit_callbacks() as callbacks:
        community_services.membership_remove(actor=manager, membership=membership)

    assert sent(f"user.{member.pk}", callbacks) == [
        {
            "type": "live.kick",
            "user": member.pk,
            "tag": f"community.{room.community_id}",
            "code": 4403,
        }
    ]


# The server's own messages ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_system_message_is_numbered_like_any_once_per_key_and_has_no_author():
    from rooms.enums import MessageKind
    from rooms.services import system_message_post

    community = CommunityFactory()
    room = services.room_get_or_create_for_community(community=community)
    member = MembershipFactory(community=community).user
    services.message_send(user=member, room_id=room.pk, body="Hi", client_id="c1")

    first = system_message_post(room_id=room.pk, body="The meeting started.", key="start:1")
    again = system_message_post(room_id=room.pk, body="The meeting started.", key="start:1")

    assert again.pk == first.pk and first.seq == 2
    assert (first.kind, first.author_id) == (MessageKind.SYSTEM, None)
    frame = message_frame(first)
    assert frame["kind"] == "system" and frame["author"] is None
    for action in (
        lambda: services.message_edit(user=member, room_id=room.pk, seq=2, body="x"),
        lambda: services.message_delete(user=member, room_id=room.pk, seq=2),
    ):
        with pytest.raises(RoomError) as refused:
            action()
        assert refused.value.code == "not_author"
    with pytest.raises(RoomError) as refused:
        services.message_report(user=member, room_id=room.pk, seq=2, reason="spam")
    assert refused.value.code == "not_reportable"
