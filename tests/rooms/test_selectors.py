"""Reads about rooms: who may enter, history pages, who is online, how a message looks."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from communities.enums import JoinPolicy, MembershipStatus
from communities.models import Community
from rooms import selectors
from rooms.enums import RoomKind
from rooms.models import Message, Presence, Report, Room
from rooms.selectors import NotRoomMember, RoomNotFound
from tests.factories import (
    CommunityFactory,
    MembershipFactory,
    MessageFactory,
    RoomFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def seqs(messages) -> list[int]:
    return [message.seq for message in messages]


def messages_make(room, count: int) -> None:
    author = UserFactory()
    Message.objects.bulk_create(
        Message(room=room, author=author, seq=n, client_id=f"c-{n}", body=f"Message {n}")
        for n in range(1, count + 1)
    )
    Room.objects.filter(pk=room.pk).update(last_seq=count)


# Who may enter --------------------------------------------------------------------------


def test_room_access_member_reads_without_managing(room, member):
    assert selectors.room_access(user=member, room_id=room.pk) == (room, False)


def test_room_access_manager_manages(room):
    manager = MembershipFactory(community=room.community, role="manager").user

    assert selectors.room_access(user=manager, room_id=room.pk) == (room, True)


def test_room_access_staff_non_member_manages(room):
    staff = UserFactory(is_staff=True)

    assert selectors.room_access(user=staff, room_id=room.pk) == (room, True)


def test_room_access_staff_in_invitation_only_community(room):
    room = RoomFactory(community=CommunityFactory(join_policy=JoinPolicy.INVITATION))
    staff = UserFactory(is_staff=True)

    assert selectors.room_access(user=staff, room_id=room.pk) == (room, True)


@pytest.mark.parametrize(
    "status",
    [
        None,
        MembershipStatus.PENDING,
        MembershipStatus.DECLINED,
        MembershipStatus.LEFT,
        MembershipStatus.REMOVED,
    ],
)
@pytest.mark.parametrize(
    ("policy", "refusal"),
    [
        (JoinPolicy.OPEN, NotRoomMember),
        (JoinPolicy.REQUEST, NotRoomMember),
        (JoinPolicy.INVITATION, RoomNotFound),
    ],
)
def test_room_access_refuses_everyone_but_active_members(policy, refusal, status):
    room = RoomFactory(community=CommunityFactory(join_policy=policy))
    user = UserFactory()
    if status is not None:
        MembershipFactory(community=room.community, user=user, status=status)

    with pytest.raises(refusal):
        selectors.room_access(user=user, room_id=room.pk)


def test_room_access_a_meetings_side_chat_is_read_by_the_communitys_members(room, member):
    side_chat = Room.objects.create(community=room.community, kind=RoomKind.MEETING, title="Chat")

    assert selectors.room_access(user=member, room_id=side_chat.pk) == (side_chat, False)


@pytest.mark.parametrize(
    ("policy", "refusal"),
    [(JoinPolicy.OPEN, NotRoomMember), (JoinPolicy.INVITATION, RoomNotFound)],
)
def test_room_access_a_meetings_side_chat_refuses_others(policy, refusal):
    community = CommunityFactory(join_policy=policy)
    side_chat = Room.objects.create(community=community, kind=RoomKind.MEETING, title="Chat")

    with pytest.raises(refusal):
        selectors.room_access(user=UserFactory(), room_id=side_chat.pk)


def test_room_access_every_kind_of_room_has_a_rule():
    assert set(selectors.ROOM_READERS) == set(RoomKind)


def test_room_access_former_manager_is_refused(room):
    former = MembershipFactory(
        community=room.community, role="manager", status=MembershipStatus.LEFT
    ).user

    with pytest.raises(NotRoomMember):
        selectors.room_access(user=former, room_id=room.pk)


def test_room_access_missing_room_not_found(room, member):
    with pytest.raises(RoomNotFound):
        selectors.room_access(user=member, room_id=room.pk + 1000)


def test_room_not_found_is_a_does_not_exist():
    # Views may catch Room.DoesNotExist and answer 404 for both.
    assert issubclass(RoomNotFound, Room.DoesNotExist)


def test_community_room_finds_the_community_room(room):
    Room.objects.create(community=room.community, kind=RoomKind.MEETING, title="Side chat")

    assert selectors.community_room(community=room.community) == room


def test_community_room_none_without_one():
    # A community saved without the service's hooks, which would give it its room.
    community = Community.objects.create(name="Roomless", slug="roomless")

    assert selectors.community_room(community=community) is None


# History --------------------------------------------------------------------------------


def test_room_history_empty_room(room):
    assert selectors.room_history(room=room) == ([], False)


def test_room_history_newest_fifty_by_default(room):
    messages_make(room, 60)

    messages, has_more = selectors.room_history(room=room)

    assert (seqs(messages), has_more) == (list(range(11, 61)), True)


def test_room_history_exactly_fifty_has_no_more(room):
    messages_make(room, 50)

    messages, has_more = selectors.room_history(room=room)

    assert (seqs(messages), has_more) == (list(range(1, 51)), False)


@pytest.mark.parametrize(
    ("before", "limit", "expected", "has_more"),
    [
        (31, 10, list(range(21, 31)), True),
        (21, 10, list(range(11, 21)), True),
        (11, 10, list(range(1, 11)), False),
        (6, 10, [1, 2, 3, 4, 5], False),
        (1, 10, [], False),
        (100, 5, [26, 27, 28, 29, 30], True),
    ],
)
def test_room_history_before_pages_backwards(room, before, limit, expected, has_more):
    messages_make(room, 30)

    messages, more = selectors.room_history(room=room, before=before, limit=limit)

    assert (seqs(messages), more) == (expected, has_more)


@pytest.mark.parametrize(
    ("after", "limit", "expected", "has_more"),
    [
        (0, 10, list(range(1, 11)), True),
        (10, 10, list(range(11, 21)), True),
        (20, 10, list(range(21, 31)), False),
        (25, 10, [26, 27, 28, 29, 30], False),
        (30, 10, [], False),
    ],
)
def test_room_history_after_pages_forwards(room, after, limit, expected, has_more):
    messages_make(room, 30)

    messages, more = selectors.room_history(room=room, after=after, limit=limit)

    assert (seqs(messages), more) == (expected, has_more)


@pytest.mark.parametrize(("limit", "size"), [(0, 1), (-5, 1), (1, 1), (100, 100), (500, 100)])
def test_room_history_limit_is_clamped(room, limit, size):
    messages_make(room, 120)

    messages, has_more = selectors.room_history(room=room, after=0, limit=limit)

    assert (len(messages), has_more) == (size, True)


def test_room_history_keeps_to_its_room(room):
    messages_make(room, 3)
    messages_make(RoomFactory(), 4)

    messages, has_more = selectors.room_history(room=room)

    assert (seqs(messages), has_more) == ([1, 2, 3], False)
    assert {message.room_id for message in messages} == {room.pk}


def test_room_history_loads_authors_in_one_query(room, django_assert_num_queries):
    for _n in range(3):
        MessageFactory(room=room)

    with django_assert_num_queries(1):
        messages, _has_more = selectors.room_history(room=room)
        names = [message.author.display_name for message in messages]

    assert len(names) == 3


def test_room_last_seq(room):
    messages_make(room, 7)

    assert selectors.room_last_seq(room_id=room.pk) == 7


# Who is online --------------------------------------------------------------------------


def test_room_online_lists_each_user_once_by_name(room):
    ben = UserFactory(display_name="Ben")
    ada = UserFactory(display_name="Ada")
    for n, user in enumerate([ben, ada, ben]):
        Presence.objects.create(room=room, user=user, channel_name=f"tab.{n}")

    assert selectors.room_online(room_id=room.pk) == [
        {"id": ada.pk, "name": "Ada"},
        {"id": ben.pk, "name": "Ben"},
    ]


def test_room_online_leaves_out_stale_connections_unless_asked(room, settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 40
    live = UserFactory(display_name="Live")
    stale = UserFactory(display_name="Stale")
    Presence.objects.create(room=room, user=live, channel_name="live")
    Presence.objects.create(
        room=room,
        user=stale,
        channel_name="stale",
        last_seen=timezone.now() - timedelta(seconds=41),
    )

    assert selectors.room_online(room_id=room.pk) == [{"id": live.pk, "name": "Live"}]
    assert selectors.room_online(room_id=room.pk, include_stale=True) == [
        {"id": live.pk, "name": "Live"},
        {"id": stale.pk, "name": "Stale"},
    ]


def test_room_online_keeps_to_its_room(room, member):
    Presence.objects.create(room=RoomFactory(), user=member, channel_name="elsewhere")

    assert selectors.room_online(room_id=room.pk) == []


# How a message looks --------------------------------------------------------------------


def test_message_frame_of_a_message(room):
    author = UserFactory(display_name="Ada")
    message = MessageFactory(
        room=room,
        author=author,
        body="Hello <b>room</b>",
        client_id="c-1",
        created_at=datetime(2026, 11, 24, 15, 4, 5, 123456, tzinfo=UTC),
    )

    assert selectors.message_frame(message) == {
        "seq": 1,
        "id": message.pk,
        "room": room.pk,
        "kind": "member",
        "author": {"id": author.pk, "name": "Ada"},
        "body": "Hello <b>room</b>",
        "created_at": "2026-11-24T15:04:05.123456Z",
        "edited_at": None,
        "deleted": False,
        "hidden": False,
        "client_id": "c-1",
    }


def test_message_frame_times_are_utc(room):
    toronto = timezone.get_fixed_timezone(-300)
    message = MessageFactory(
        room=room,
        created_at=datetime(2026, 11, 24, 10, 0, 0, tzinfo=toronto),
        edited_at=datetime(2026, 11, 24, 10, 30, 0, 5, tzinfo=toronto),
    )

    frame = selectors.message_frame(message)

    assert (frame["created_at"], frame["edited_at"]) == (
        "2026-11-24T15:00:00Z",
        "2026-11-24T15:30:00.000005Z",
    )


@pytest.mark.parametrize(
    ("field", "deleted", "hidden"),
    [("deleted_at", True, False), ("hidden_at", False, True)],
)
def test_message_frame_of_a_removed_message_has_no_body(room, field, deleted, hidden):
    message = MessageFactory(room=room, body="Gone", **{field: timezone.now()})

    frame = selectors.message_frame(message)

    assert (frame["seq"], frame["body"], frame["deleted"], frame["hidden"]) == (
        1,
        "",
        deleted,
        hidden,
    )


# Moderation queue -----------------------------------------------------------------------


def test_moderation_queue_holds_reported_and_hidden_messages(room, member):
    reporter = UserFactory()
    _quiet, reported, resolved, hidden = (
        MessageFactory(room=room, author=member) for _n in range(4)
    )
    Report.objects.create(message=reported, reporter=reporter, reason="Spam")
    Report.objects.create(
        message=resolved, reporter=reporter, reason="Meh", resolved_at=timezone.now()
    )
    Message.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())
    other_community_message = MessageFactory(room=RoomFactory())
    Report.objects.create(message=other_community_message, reporter=reporter, reason="Spam")

    queue = list(selectors.moderation_queue(community=room.community))

    assert {message.pk for message in queue} == {reported.pk, hidden.pk}


def test_moderation_queue_counts_open_reports_newest_first(room, member):
    older, newer = MessageFactory(room=room), MessageFactory(room=room)
    now = timezone.now()
    for n, user in enumerate(UserFactory.create_batch(2)):
        Report.objects.create(
            message=older, reporter=user, reason="Old", created_at=now - timedelta(hours=2 + n)
        )
    Report.objects.create(
        message=newer, reporter=member, reason="New", created_at=now - timedelta(hours=1)
    )

    queue = list(selectors.moderation_queue(community=room.community))

    assert [(m.pk, m.open_reports) for m in queue] == [(newer.pk, 1), (older.pk, 2)]


@pytest.mark.parametrize("count", [1, 3])
def test_moderation_queue_query_count_does_not_grow(room, count, django_assert_num_queries):
    for _n in range(count):
        message = MessageFactory(room=room)
        Report.objects.create(message=message, reporter=UserFactory(), reason="Spam")

    # The queue, its reports, their reporters: three queries whatever the length.
    with django_assert_num_queries(3):
        rows = [
            (
                m.author.display_name,
                m.room.title,
                [r.reporter.display_name for r in m.reports.all()],
            )
            for m in selectors.moderation_queue(community=room.community)
        ]

    assert len(rows) == count
