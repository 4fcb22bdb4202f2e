"""The room socket, spoken over WebsocketCommunicator through the real ASGI stack
(origin check, session cookie, URL router), as docs/protocol.md describes it.

Every socket is closed by the `connected` helper. `joined()` reads what joining sends
(room.state, history, the arrival's presence frame); `receive_nothing()` proves a socket
got nothing.
"""

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from communities import services as community_services
from communities.enums import JoinPolicy, MembershipStatus
from communities.models import Membership
from rooms import services as rooms_services
from rooms.consumers import BACKLOG_PAGES
from rooms.models import Message, Presence, Report, Room
from rooms.selectors import message_frame, room_online
from tests.factories import (
    CommunityFactory,
    MembershipFactory,
    MessageFactory,
    PendingMembershipFactory,
    RoomFactory,
    UserFactory,
)
from tests.rooms.conftest import connected, receive, receive_until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

QUIET = 0.15  # seconds of silence that end a drain, or prove a socket got nothing

adb = database_sync_to_async


@pytest_asyncio.fixture(autouse=True)
async def _close_consumer_connections():
    """channels.testing turns `close_old_connections` into a no-op while a communicator
    waits, so the consumers' database thread may keep its connection after the test, and
    PostgreSQL would then wait for it before dropping the test database."""
    yield
    await adb(connections.close_all)()


# Helpers --------------------------------------------------------------------------------


async def drain(socket, quiet: float = QUIET) -> list[dict]:
    """Every frame the socket has received until it has been quiet for `quiet` seconds."""
    frames = []
    while not await socket.receive_nothing(quiet):
        frames.append(await receive(socket))
    return frames


async def arrival(socket) -> dict:
    """The presence frame someone else's arrival sent this socket."""
    return await receive_until(socket, "presence")


@asynccontextmanager
async def joined(user, room_id, query: str = ""):
    """A socket that is in the room, with what joining sent read: room.state, the history
    page(s), and the presence frame its own arrival causes (unless another tab of the same
    user is online already)."""
    online = await adb(room_online)(room_id=room_id)
    announced = all(person["id"] != user.pk for person in online)
    async with connected(user, room_id, query) as socket:
        is_connected, _subprotocol = await socket.connect()
        assert is_connected is True
        frames = [await receive(socket)]
        assert frames[0]["type"] == "room.state"
        while True:
            page = await receive(socket)
            frames.append(page)
            assert page["type"] == "history"
            if not (page["resume"] and page["has_more"]) or len(frames) > BACKLOG_PAGES:
                break
        if announced:
            frames.append(await receive(socket))
            assert frames[-1]["type"] == "presence"
        yield socket, frames


async def refusal(user, room_id) -> tuple[bool, dict]:
    """Whether the handshake was accepted, and the next thing the server did."""
    async with connected(user, room_id) as socket:
        is_connected, _subprotocol = await socket.connect()
        return is_connected, await socket.receive_output(1)


async def send(socket, body: str = "Hello", client_id: str = "c-1", **extra) -> None:
    await socket.send_json_to(
        {"type": "message.send", "body": body, "client_id": client_id, **extra}
    )


async def frames_of(socket, kind: str, count: int, timeout: float = 3) -> list[dict]:
    """The next `count` frames of type `kind`, skipping others."""
    found = []
    while len(found) < count:
        frame = await receive(socket, timeout)
        if frame["type"] == kind:
            found.append(frame)
    return found


def without(frame: dict, *names: str) -> dict:
    return {name: value for name, value in frame.items() if name not in names}


@adb
def member_make(community, **fields):
    return MembershipFactory(community=community, **fields).user


@adb
def messages_make(room, author, count: int) -> None:
    for _n in range(count):
        MessageFactory(room=room, author=author)


@adb
def messages_bulk(room, author, count: int) -> None:
    """`count` messages at once, for long backlogs (numbers follow the room's last_seq)."""
    room = Room.objects.get(pk=room.pk)
    Message.objects.bulk_create(
        Message(
            room=room,
            author=author,
            seq=room.last_seq + n,
            client_id=f"bulk-{room.last_seq + n}",
            body=f"Bulk {room.last_seq + n}",
        )
        for n in range(1, count + 1)
    )
    Room.objects.filter(pk=room.pk).update(last_seq=room.last_seq + count)


@adb
def rows(room) -> list[tuple]:
    """The room's messages as stored, in seq order."""
    return list(
        Message.objects.filter(room=room)
        .order_by("seq")
        .values_list(
            "seq", "author_id", "client_id", "body", "edited_at", "deleted_at", "hidden_at"
        )
    )


@adb
def report_rows() -> list[tuple]:
    return list(Report.objects.values_list("reporter_id", "reason"))


@adb
def seqs(room) -> list[int]:
    return list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))


@adb
def frame_of(room, seq: int) -> dict:
    return message_frame(Message.objects.select_related("author").get(room=room, seq=seq))


@adb
def last_seq(room) -> int:
    return Room.objects.get(pk=room.pk).last_seq


def history_seqs(frame: dict) -> list[int]:
    return [message["seq"] for message in frame["messages"]]


# Refusals -------------------------------------------------------------------------------


async def test_connect_anonymous_closes_4401(room):
    result = await refusal(None, room.pk)

    assert result == (True, {"type": "websocket.close", "code": 4401})


async def test_connect_non_member_of_open_community_closes_4403(room):
    stranger = await adb(UserFactory)()

    result = await refusal(stranger, room.pk)

    assert result == (True, {"type": "websocket.close", "code": 4403})


async def test_connect_pending_member_closes_4403():
    community = await adb(CommunityFactory)(join_policy=JoinPolicy.REQUEST)
    room = await adb(RoomFactory)(community=community)
    pending = (await adb(PendingMembershipFactory)(community=community)).user

    result = await refusal(pending, room.pk)

    assert result == (True, {"type": "websocket.close", "code": 4403})


async def test_connect_former_member_closes_4403(room):
    former = await member_make(room.community, status=MembershipStatus.LEFT)

    result = await refusal(former, room.pk)

    assert result == (True, {"type": "websocket.close", "code": 4403})


async def test_connect_missing_room_closes_4404(room, member):
    result = await refusal(member, room.pk + 1000)

    assert result == (True, {"type": "websocket.close", "code": 4404})


async def test_connect_invitation_only_room_for_non_member_closes_4404():
    community = await adb(CommunityFactory)(join_policy=JoinPolicy.INVITATION)
    room = await adb(RoomFactory)(community=community)
    stranger = await adb(UserFactory)()

    result = await refusal(stranger, room.pk)

    assert result == (True, {"type": "websocket.close", "code": 4404})


async def test_connect_invitation_only_room_for_former_member_closes_4404():
    community = await adb(CommunityFactory)(join_policy=JoinPolicy.INVITATION)
    room = await adb(RoomFactory)(community=community)
    former = await member_make(community, status=MembershipStatus.REMOVED)

    result = await refusal(former, room.pk)

    assert result == (True, {"type": "websocket.close", "code": 4404})


async def test_connect_bad_origin_refuses_handshake(room, member):
    async with connected(member, room.pk, origin=b"http://evil.example") as socket:
        is_connected, _code = await socket.connect()

    assert is_connected is False
    assert await adb(Presence.objects.count)() == 0


async def test_connect_staff_non_member_reads_room(room):
    staff = await adb(UserFactory)(is_staff=True, display_name="Staff")
    author = await member_make(room.community)
    await messages_make(room, author, 2)

    async with joined(staff, room.pk) as (_socket, frames):
        pass

    assert frames[0]["you"] == {"id": staff.pk, "name": "Staff", "manager": True}
    assert frames[1]["type"] == "history"
    assert history_seqs(frames[1]) == [1, 2]


async def test_connect_member_first_gets_room_state(room, settings):
    settings.LIVE_HEARTBEAT_SECONDS = 15.0
    member = await member_make(room.community, user__display_name="Ada")
    await messages_make(room, member, 2)

    async with joined(member, room.pk) as (_socket, frames):
        pass

    state = frames[0]
    server_time = state.pop("server_time")
    assert state == {
        "type": "room.state",
        "room": {"id": room.pk, "title": room.title, "kind": "community"},
        "last_seq": 2,
        "online": [{"id": member.pk, "name": "Ada"}],
        "you": {"id": member.pk, "name": "Ada", "manager": False},
        "limits": {"body": 4000, "messages": 10, "seconds": 10, "heartbeat": 15.0},
    }
    assert server_time.endswith("Z")
    assert [frame["type"] for frame in frames] == ["room.state", "history", "presence"]


async def test_connect_manager_is_told_so(room):
    manager = await member_make(room.community, role="manager")

    async with joined(manager, room.pk) as (_socket, frames):
        pass

    assert frames[0]["you"]["manager"] is True


# Persist, then broadcast ----------------------------------------------------------------


async def test_message_send_reaches_every_connection_with_client_id(room):
    ada = await member_make(room.community, user__display_name="Ada")
    ben = await member_make(room.community, user__display_name="Ben")

    async with joined(ada, room.pk) as (ada_socket, _), joined(ben, room.pk) as (ben_socket, _):
        await arrival(ada_socket)
        await send(ada_socket, body="  Hello, room  ", client_id="ada-1")
        to_ada = await receive(ada_socket)
        to_ben = await receive(ben_socket)

    stored = await adb(Message.objects.get)(room=room)
    expected = {
        "type": "message.new",
        "message": {
            "seq": 1,
            "id": stored.pk,
            "room": room.pk,
            "kind": "member",
            "author": {"id": ada.pk, "name": "Ada"},
            "body": "Hello, room",
            "created_at": stored.created_at.isoformat().replace("+00:00", "Z"),
            "edited_at": None,
            "deleted": False,
            "hidden": False,
            "client_id": "ada-1",
        },
    }
    assert to_ada == expected
    assert to_ben == expected
    assert (stored.seq, stored.author_id, stored.body) == (1, ada.pk, "Hello, room")


async def test_message_send_numbers_messages_without_gaps(room, member):
    async with joined(member, room.pk) as (socket, _):
        for n in range(1, 4):
            await send(socket, body=f"Message {n}", client_id=f"c-{n}")
        echoes = await frames_of(socket, "message.new", 3)

    assert [echo["message"]["seq"] for echo in echoes] == [1, 2, 3]
    assert [echo["message"]["client_id"] for echo in echoes] == ["c-1", "c-2", "c-3"]
    assert await seqs(room) == [1, 2, 3]
    assert await last_seq(room) == 3


async def test_message_send_other_room_receives_nothing(room, member):
    other_room = await adb(RoomFactory)()
    other_member = await member_make(other_room.community)

    async with (
        joined(member, room.pk) as (socket, _),
        joined(other_member, other_room.pk) as (
            other_socket,
            _,
        ),
    ):
        await send(socket)
        await receive_until(socket, "message.new")

        assert await other_socket.receive_nothing(QUIET) is True
    assert await seqs(other_room) == []


async def test_message_send_concurrent_senders_get_each_seq_once(room, settings):
    settings.ROOM_RATE_LIMIT_MESSAGES = 100
    users = [await member_make(room.community) for _n in range(4)]
    per_user = 5
    total = len(users) * per_user

    async with (
        joined(users[0], room.pk) as (s0, _),
        joined(users[1], room.pk) as (s1, _),
        joined(users[2], room.pk) as (s2, _),
        joined(users[3], room.pk) as (s3, _),
    ):
        sockets = [s0, s1, s2, s3]
        await asyncio.gather(
            *(
                send(socket, body=f"From {i}, {n}", client_id=f"{i}-{n}")
                for n in range(per_user)
                for i, socket in enumerate(sockets)
            )
        )
        seen = await asyncio.gather(*(frames_of(s, "message.new", total) for s in sockets))

    for frames in seen:
        assert sorted(frame["message"]["seq"] for frame in frames) == list(range(1, total + 1))
    assert await seqs(room) == list(range(1, total + 1))
    assert await last_seq(room) == total


# Idempotent sends -----------------------------------------------------------------------


async def test_message_send_same_client_id_twice_stores_one_message(room):
    ada = await member_make(room.community)
    ben = await member_make(room.community)

    async with joined(ada, room.pk) as (ada_socket, _), joined(ben, room.pk) as (ben_socket, _):
        await arrival(ada_socket)
        await send(ada_socket, body="Once", client_id="same")
        first = await receive(ada_socket)
        await receive(ben_socket)

        await send(ada_socket, body="Once", client_id="same", request_id="retry")
        second = await receive(ada_socket)

        assert await ben_socket.receive_nothing(QUIET) is True
    assert without(second, "client_id", "request_id") == first
    assert (second["client_id"], second["request_id"]) == ("same", "retry")
    assert await seqs(room) == [1]


async def test_message_send_retry_with_other_body_answers_original(room, member):
    async with joined(member, room.pk) as (socket, _):
        await send(socket, body="First words", client_id="same")
        first = await receive(socket)
        await send(socket, body="Second thoughts", client_id="same")
        second = await receive(socket)

    assert without(second, "client_id") == first
    assert second["message"]["body"] == "First words"
    assert await seqs(room) == [1]


async def test_message_send_same_client_id_other_author_is_another_message(room):
    ada = await member_make(room.community)
    ben = await member_make(room.community)

    async with joined(ada, room.pk) as (ada_socket, _), joined(ben, room.pk) as (ben_socket, _):
        await arrival(ada_socket)
        await send(ada_socket, body="From Ada", client_id="same")
        await receive(ben_socket)
        await send(ben_socket, body="From Ben", client_id="same")
        echoes = await frames_of(ada_socket, "message.new", 2)

    assert [(e["message"]["seq"], e["message"]["author"]["id"]) for e in echoes] == [
        (1, ada.pk),
        (2, ben.pk),
    ]
    assert [row[:4] for row in await rows(room)] == [
        (1, ada.pk, "same", "From Ada"),
        (2, ben.pk, "same", "From Ben"),
    ]


# Resume and history ---------------------------------------------------------------------


async def test_connect_after_resumes_with_missing_messages_then_live(room, member):
    await messages_make(room, member, 5)

    async with joined(member, room.pk, query="after=2") as (socket, frames):
        await send(socket, body="Live", client_id="live")
        live = await receive(socket)

    assert [frame["type"] for frame in frames] == ["room.state", "history", "presence"]
    assert frames[0]["last_seq"] == 5
    assert without(frames[1], "messages") == {"type": "history", "has_more": False, "resume": True}
    assert frames[1]["messages"] == [await frame_of(room, seq) for seq in (3, 4, 5)]
    assert live["type"] == "message.new"
    assert live["message"]["seq"] == 6


async def test_connect_after_last_seq_resumes_with_nothing(room, member):
    await messages_make(room, member, 3)

    async with joined(member, room.pk, query="after=3") as (_socket, frames):
        pass

    assert frames[1] == {"type": "history", "messages": [], "has_more": False, "resume": True}


async def test_connect_after_pages_a_long_backlog(room, member):
    await messages_bulk(room, member, 150)

    async with joined(member, room.pk, query="after=10") as (_socket, frames):
        pass

    pages = [frame for frame in frames if frame["type"] == "history"]
    assert [(len(p["messages"]), p["has_more"], p["resume"]) for p in pages] == [
        (100, True, True),
        (40, False, True),
    ]
    assert [seq for page in pages for seq in history_seqs(page)] == list(range(11, 151))


async def test_connect_after_sends_at_most_a_thousand(room, member):
    await messages_bulk(room, member, 1005)

    async with joined(member, room.pk, query="after=0") as (socket, frames):
        await socket.send_json_to({"type": "history.fetch", "after": 1000})
        rest = await receive_until(socket, "history")

    pages = [frame for frame in frames if frame["type"] == "history"]
    assert len(pages) == 10
    assert [seq for page in pages for seq in history_seqs(page)] == list(range(1, 1001))
    assert pages[-1]["has_more"] is True
    assert history_seqs(rest) == [1001, 1002, 1003, 1004, 1005]
    assert rest["has_more"] is False


async def test_connect_without_after_sends_last_fifty(room, member):
    await messages_bulk(room, member, 60)

    async with joined(member, room.pk) as (_socket, frames):
        pass

    assert without(frames[1], "messages") == {"type": "history", "has_more": True, "resume": False}
    assert history_seqs(frames[1]) == list(range(11, 61))


async def test_connect_without_after_fifty_messages_has_no_more(room, member):
    await messages_bulk(room, member, 50)

    async with joined(member, room.pk) as (_socket, frames):
        pass

    assert frames[1]["has_more"] is False
    assert history_seqs(frames[1]) == list(range(1, 51))


async def test_connect_empty_room_sends_empty_history(room, member):
    async with joined(member, room.pk) as (_socket, frames):
        pass

    assert frames[1] == {"type": "history", "messages": [], "has_more": False, "resume": False}


async def test_connect_after_while_others_send_sees_each_seq_once(room, settings):
    settings.ROOM_RATE_LIMIT_MESSAGES = 1000
    sender = await member_make(room.community)
    reader = await member_make(room.community)
    await messages_make(room, sender, 5)
    total = 5 + 40

    async with joined(sender, room.pk) as (sender_socket, _):

        async def keep_sending():
            for n in range(40):
                await send(sender_socket, body=f"Busy {n}", client_id=f"busy-{n}")
                await receive_until(sender_socket, "message.new")

        sending = asyncio.create_task(keep_sending())
        await asyncio.sleep(0.05)  # some messages land before the reconnect, some during
        async with connected(reader, room.pk, query="after=5") as reader_socket:
            is_connected, _subprotocol = await reader_socket.connect()
            assert is_connected is True
            seen = []
            while not seen or seen[-1] < total:
                frame = await receive(reader_socket, 3)
                if frame["type"] == "history":
                    assert frame["resume"] is True
                    seen.extend(history_seqs(frame))
                elif frame["type"] == "message.new":
                    seen.append(frame["message"]["seq"])
        await sending

    assert seen == list(range(6, total + 1))
    assert await seqs(room) == list(range(1, total + 1))


async def test_history_fetch_before_pages_backwards(room, member):
    await messages_bulk(room, member, 30)

    async with joined(member, room.pk) as (socket, _):
        pages = []
        before = 31
        while True:
            await socket.send_json_to(
                {"type": "history.fetch", "before": before, "limit": 12, "request_id": "back"}
            )
            page = await receive(socket)
            pages.append(page)
            if not page["has_more"]:
                break
            before = page["messages"][0]["seq"]

    assert [without(page, "messages") for page in pages] == [
        {"type": "history", "has_more": True, "resume": False, "before": 31, "request_id": "back"},
        {"type": "history", "has_more": True, "resume": False, "before": 19, "request_id": "back"},
        {"type": "history", "has_more": False, "resume": False, "before": 7, "request_id": "back"},
    ]
    assert [history_seqs(page) for page in pages] == [
        list(range(19, 31)),
        list(range(7, 19)),
        list(range(1, 7)),
    ]


async def test_history_fetch_after_pages_forwards(room, member):
    await messages_bulk(room, member, 30)

    async with joined(member, room.pk) as (socket, _):
        pages = []
        after = 0
        while True:
            await socket.send_json_to({"type": "history.fetch", "after": after, "limit": 12})
            page = await receive(socket)
            pages.append(page)
            if not page["has_more"]:
                break
            after = page["messages"][-1]["seq"]

    assert [without(page, "messages") for page in pages] == [
        {"type": "history", "has_more": True, "resume": False, "after": 0},
        {"type": "history", "has_more": True, "resume": False, "after": 12},
        {"type": "history", "has_more": False, "resume": False, "after": 24},
    ]
    assert [history_seqs(page) for page in pages] == [
        list(range(1, 13)),
        list(range(13, 25)),
        list(range(25, 31)),
    ]


async def test_history_fetch_without_limit_sends_fifty(room, member):
    await messages_bulk(room, member, 120)

    async with joined(member, room.pk) as (socket, _):
        await socket.send_json_to({"type": "history.fetch", "before": 101})
        page = await receive(socket)

    assert history_seqs(page) == list(range(51, 101))
    assert page["has_more"] is True


async def test_history_fetch_limit_hundred_is_allowed(room, member):
    await messages_bulk(room, member, 100)

    async with joined(member, room.pk) as (socket, _):
        await socket.send_json_to({"type": "history.fetch", "after": 0, "limit": 100})
        page = await receive(socket)

    assert history_seqs(page) == list(range(1, 101))
    assert page["has_more"] is False


# Edit, delete, hide, restore ------------------------------------------------------------


async def test_message_edit_own_sends_update_to_everyone(room):
    ada = await member_make(room.community)
    ben = await member_make(room.community)
    await adb(MessageFactory)(room=room, author=ada, body="Teh typo")

    async with joined(ada, room.pk) as (ada_socket, _), joined(ben, room.pk) as (ben_socket, _):
        await arrival(ada_socket)
        await ada_socket.send_json_to({"type": "message.edit", "seq": 1, "body": " The fix "})
        to_ada = await receive(ada_socket)
        to_ben = await receive(ben_socket)

    expected = {"type": "message.updated", "message": await frame_of(room, 1)}
    assert to_ada == expected
    assert to_ben == expected
    assert expected["message"]["body"] == "The fix"
    assert expected["message"]["edited_at"] is not None
    assert (await rows(room))[0][3] == "The fix"


async def test_message_delete_own_sends_update_to_everyone(room):
    ada = await member_make(room.community)
    ben = await member_make(room.community)
    await adb(MessageFactory)(room=room, author=ada, body="Regret")

    async with joined(ada, room.pk) as (ada_socket, _), joined(ben, room.pk) as (ben_socket, _):
        await arrival(ada_socket)
        await ada_socket.send_json_to({"type": "message.delete", "seq": 1})
        to_ada = await receive(ada_socket)
        to_ben = await receive(ben_socket)

    assert to_ada == to_ben
    assert to_ben["type"] == "message.updated"
    assert without(to_ben["message"], "id", "author", "created_at") == {
        "seq": 1,
        "room": room.pk,
        "kind": "member",
        "body": "",
        "edited_at": None,
        "deleted": True,
        "hidden": False,
        "client_id": to_ben["message"]["client_id"],
    }
    assert (await rows(room))[0][5] is not None


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message.edit", "seq": 1, "body": "Not yours"},
        {"type": "message.delete", "seq": 1},
    ],
    ids=["edit", "delete"],
)
async def test_message_change_of_someone_elses_refused_not_author(room, frame):
    ada = await member_make(room.community)
    ben = await member_make(room.community)
    await adb(MessageFactory)(room=room, author=ada, body="Mine")
    before = await rows(room)

    async with joined(ada, room.pk) as (ada_socket, _), joined(ben, room.pk) as (ben_socket, _):
        await arrival(ada_socket)
        await ben_socket.send_json_to({**frame, "request_id": "r-9"})
        error = await receive(ben_socket)

        assert await ada_socket.receive_nothing(QUIET) is True
    assert without(error, "detail") == {"type": "error", "code": "not_author", "request_id": "r-9"}
    assert await rows(room) == before


async def test_message_edit_of_manager_on_others_refused_not_author(room):
    author = await member_make(room.community)
    manager = await member_make(room.community, role="manager")
    await adb(MessageFactory)(room=room, author=author, body="Mine")
    before = await rows(room)

    async with joined(manager, room.pk) as (socket, _):
        await socket.send_json_to({"type": "message.edit", "seq": 1, "body": "Managed"})
        error = await receive(socket)

    assert error["code"] == "not_author"
    assert await rows(room) == before


async def test_message_edit_deleted_refused_not_editable(room, member):
    await adb(MessageFactory)(room=room, author=member, deleted_at=timezone.now())
    before = await rows(room)

    async with joined(member, room.pk) as (socket, _):
        await socket.send_json_to({"type": "message.edit", "seq": 1, "body": "Back"})
        error = await receive(socket)

    assert error["code"] == "not_editable"
    assert await rows(room) == before


async def test_message_hide_by_manager_sends_hidden_to_everyone(room):
    author = await member_make(room.community)
    manager = await member_make(room.community, role="manager")
    await adb(MessageFactory)(room=room, author=author, body="Rude words")

    async with (
        joined(author, room.pk) as (author_socket, _),
        joined(manager, room.pk) as (manager_socket, _),
    ):
        await arrival(author_socket)
        await manager_socket.send_json_to({"type": "message.hide", "seq": 1})
        to_manager = await receive(manager_socket)
        to_author = await receive(author_socket)

    assert to_manager == to_author
    assert to_author["type"] == "message.updated"
    assert (to_author["message"]["hidden"], to_author["message"]["body"]) == (True, "")
    message = await adb(Message.objects.get)(room=room, seq=1)
    assert (message.hidden_by_id, message.body) == (manager.pk, "Rude words")
    assert message.hidden_at is not None


async def test_message_restore_by_manager_sends_visible_to_everyone(room):
    author = await member_make(room.community)
    manager = await member_make(room.community, role="manager")
    await adb(MessageFactory)(
        room=room, author=author, body="Fine after all", hidden_at=timezone.now()
    )

    async with (
        joined(author, room.pk) as (author_socket, _),
        joined(manager, room.pk) as (manager_socket, _),
    ):
        await arrival(author_socket)
        await manager_socket.send_json_to({"type": "message.restore", "seq": 1})
        to_manager = await receive(manager_socket)
        to_author = await receive(author_socket)

    assert to_manager == to_author
    assert to_author["type"] == "message.updated"
    assert (to_author["message"]["hidden"], to_author["message"]["body"]) == (
        False,
        "Fine after all",
    )
    assert (await rows(room))[0][6] is None


@pytest.mark.parametrize("kind", ["message.hide", "message.restore"])
async def test_message_moderation_by_member_refused_not_allowed(room, kind):
    author = await member_make(room.community)
    await adb(MessageFactory)(room=room, author=author, body="My own")
    before = await rows(room)

    async with joined(author, room.pk) as (socket, _):
        await socket.send_json_to({"type": kind, "seq": 1, "request_id": "mod"})
        error = await receive(socket)

    assert without(error, "detail") == {"type": "error", "code": "not_allowed", "request_id": "mod"}
    assert await rows(room) == before


async def test_history_keeps_deleted_and_hidden_messages_in_place(room, member):
    await adb(MessageFactory)(room=room, author=member, body="One")
    await adb(MessageFactory)(room=room, author=member, body="Two", deleted_at=timezone.now())
    await adb(MessageFactory)(room=room, author=member, body="Three", hidden_at=timezone.now())
    await adb(MessageFactory)(room=room, author=member, body="Four")

    async with joined(member, room.pk) as (socket, frames):
        await socket.send_json_to({"type": "history.fetch", "after": 0})
        fetched = await receive(socket)

    for page in (frames[1], fetched):
        assert [(m["seq"], m["body"], m["deleted"], m["hidden"]) for m in page["messages"]] == [
            (1, "One", False, False),
            (2, "", True, False),
            (3, "", False, True),
            (4, "Four", False, False),
        ]


# Reports --------------------------------------------------------------------------------


async def test_message_report_answers_reporter_only(room):
    author = await member_make(room.community)
    reporter = await member_make(room.community)
    await adb(MessageFactory)(room=room, author=author, body="Spam")

    async with (
        joined(author, room.pk) as (author_socket, _),
        joined(reporter, room.pk) as (reporter_socket, _),
    ):
        await arrival(author_socket)
        await reporter_socket.send_json_to(
            {"type": "message.report", "seq": 1, "reason": "Spam", "request_id": "rep"}
        )
        answer = await receive(reporter_socket)

        assert await author_socket.receive_nothing(QUIET) is True
    assert answer == {"type": "report.received", "seq": 1, "request_id": "rep"}
    reports = await report_rows()
    assert reports == [(reporter.pk, "Spam")]


async def test_message_report_twice_keeps_one_row_with_new_reason(room):
    author = await member_make(room.community)
    reporter = await member_make(room.community)
    await adb(MessageFactory)(room=room, author=author)

    async with joined(reporter, room.pk) as (socket, _):
        await socket.send_json_to({"type": "message.report", "seq": 1, "reason": "Off topic"})
        first = await receive(socket)
        await socket.send_json_to({"type": "message.report", "seq": 1, "reason": "Insulting"})
        second = await receive(socket)

    assert first == second == {"type": "report.received", "seq": 1}
    reports = await report_rows()
    assert reports == [(reporter.pk, "Insulting")]


# Bad input ------------------------------------------------------------------------------

TOO_LONG = "x" * 4001

BAD_FRAMES = [
    pytest.param("{nope", {"code": "bad_json"}, id="not-json"),
    pytest.param("[1, 2]", {"code": "not_object"}, id="array"),
    pytest.param('"message.send"', {"code": "not_object"}, id="string"),
    pytest.param("null", {"code": "not_object"}, id="null"),
    pytest.param(b"x", {"code": "binary_frame"}, id="binary"),
    pytest.param({"request_id": "r"}, {"code": "unknown_type"}, id="no-type"),
    pytest.param({"type": "message.shout", "request_id": "r"}, {"code": "unknown_type"}, id="type"),
    pytest.param({"type": 5, "request_id": "r"}, {"code": "unknown_type"}, id="type-number"),
    pytest.param(
        {"type": "message.send", "body": "Hi", "request_id": "r"},
        {"code": "missing_field"},
        id="send-no-client-id",
    ),
    pytest.param(
        {"type": "message.send", "client_id": "c", "request_id": "r"},
        {"code": "missing_field", "client_id": "c"},
        id="send-no-body",
    ),
    pytest.param(
        {"type": "message.send", "body": None, "client_id": "c", "request_id": "r"},
        {"code": "missing_field", "client_id": "c"},
        id="send-null-body",
    ),
    pytest.param(
        {"type": "message.edit", "body": "New", "request_id": "r"},
        {"code": "missing_field"},
        id="edit-no-seq",
    ),
    pytest.param(
        {"type": "message.edit", "seq": 1, "request_id": "r"},
        {"code": "missing_field"},
        id="edit-no-body",
    ),
    pytest.param(
        {"type": "message.report", "seq": 1, "request_id": "r"},
        {"code": "missing_field"},
        id="report-no-reason",
    ),
    pytest.param(
        {"type": "message.edit", "seq": "1", "body": "New", "request_id": "r"},
        {"code": "invalid_field"},
        id="seq-string",
    ),
    pytest.param(
        {"type": "message.delete", "seq": True, "request_id": "r"},
        {"code": "invalid_field"},
        id="seq-true",
    ),
    pytest.param(
        {"type": "message.delete", "seq": 1.0, "request_id": "r"},
        {"code": "invalid_field"},
        id="seq-float",
    ),
    pytest.param(
        {"type": "message.delete", "seq": 0, "request_id": "r"},
        {"code": "invalid_field"},
        id="seq-zero",
    ),
    pytest.param(
        {"type": "message.send", "body": 5, "client_id": "c", "request_id": "r"},
        {"code": "invalid_field", "client_id": "c"},
        id="body-number",
    ),
    pytest.param(
        {"type": "message.edit", "seq": 1, "body": True, "request_id": "r"},
        {"code": "invalid_field"},
        id="edit-body-true",
    ),
    pytest.param(
        {"type": "message.send", "body": "Hi", "client_id": 7, "request_id": "r"},
        {"code": "invalid_field"},
        id="client-id-number",
    ),
    pytest.param(
        {"type": "message.send", "body": "Hi", "client_id": "", "request_id": "r"},
        {"code": "invalid_field", "client_id": ""},
        id="client-id-empty",
    ),
    pytest.param(
        {"type": "message.send", "body": "Hi", "client_id": "c" * 65, "request_id": "r"},
        {"code": "invalid_field"},
        id="client-id-65",
    ),
    pytest.param(
        {"type": "message.send", "body": "", "client_id": "c", "request_id": "r"},
        {"code": "empty_body", "client_id": "c"},
        id="body-empty",
    ),
    pytest.param(
        {"type": "message.send", "body": " \n\t  ", "client_id": "c", "request_id": "r"},
        {"code": "empty_body", "client_id": "c"},
        id="body-whitespace",
    ),
    pytest.param(
        {"type": "message.send", "body": TOO_LONG, "client_id": "c", "request_id": "r"},
        {"code": "body_too_long", "client_id": "c", "max": 4000},
        id="body-4001",
    ),
    pytest.param(
        {"type": "message.edit", "seq": 1, "body": "  ", "request_id": "r"},
        {"code": "empty_body"},
        id="edit-body-empty",
    ),
    pytest.param(
        {"type": "message.edit", "seq": 1, "body": TOO_LONG, "request_id": "r"},
        {"code": "body_too_long", "max": 4000},
        id="edit-body-4001",
    ),
    pytest.param(
        {"type": "history.fetch", "limit": 0, "request_id": "r"},
        {"code": "invalid_field"},
        id="limit-0",
    ),
    pytest.param(
        {"type": "history.fetch", "limit": 101, "request_id": "r"},
        {"code": "invalid_field"},
        id="limit-101",
    ),
    pytest.param(
        {"type": "history.fetch", "before": 0, "request_id": "r"},
        {"code": "invalid_field"},
        id="before-0",
    ),
    pytest.param(
        {"type": "history.fetch", "after": -1, "request_id": "r"},
        {"code": "invalid_field"},
        id="after-negative",
    ),
    pytest.param(
        {"type": "history.fetch", "before": 5, "after": 1, "request_id": "r"},
        {"code": "invalid_field"},
        id="before-and-after",
    ),
    pytest.param(
        {"type": "message.edit", "seq": 99, "body": "New", "request_id": "r"},
        {"code": "not_found"},
        id="edit-missing",
    ),
    pytest.param(
        {"type": "message.delete", "seq": 99, "request_id": "r"},
        {"code": "not_found"},
        id="delete-missing",
    ),
    pytest.param(
        {"type": "message.report", "seq": 99, "reason": "Spam", "request_id": "r"},
        {"code": "not_found"},
        id="report-missing",
    ),
    pytest.param(
        {"type": "message.report", "seq": 1, "reason": " ", "request_id": "r"},
        {"code": "empty_reason"},
        id="reason-empty",
    ),
    pytest.param(
        {"type": "message.report", "seq": 1, "reason": "x" * 501, "request_id": "r"},
        {"code": "reason_too_long"},
        id="reason-501",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), BAD_FRAMES)
async def test_bad_frame_answers_error_and_changes_nothing(room, member, raw, expected):
    await adb(MessageFactory)(room=room, author=member, body="Original")
    before = await rows(room)
    echo = {"request_id": "r"} if isinstance(raw, dict) else {}

    async with joined(member, room.pk) as (socket, _):
        if isinstance(raw, bytes):
            await socket.send_to(bytes_data=raw)
        elif isinstance(raw, str):
            await socket.send_to(text_data=raw)
        else:
            await socket.send_json_to(raw)
        error = await receive(socket)
        await socket.send_json_to({"type": "ping", "request_id": "still-there"})
        pong = await receive(socket)

    detail = error.pop("detail")
    assert error == {"type": "error", **expected, **echo}
    assert isinstance(detail, str)
    assert detail != ""
    assert without(pong, "server_time") == {
        "type": "pong",
        "last_seq": 1,
        "request_id": "still-there",
    }
    assert await rows(room) == before
    assert await adb(Report.objects.count)() == 0


async def test_message_send_body_of_4000_characters_is_stored(room, member):
    body = "y" * 4000

    async with joined(member, room.pk) as (socket, _):
        await send(socket, body=f"  {body}  ", client_id="long")
        echo = await receive(socket)

    assert echo["message"]["body"] == body
    assert [row[3] for row in await rows(room)] == [body]


async def test_ping_answers_pong_with_last_seq(room, member):
    await messages_make(room, member, 3)

    async with joined(member, room.pk) as (socket, _):
        await socket.send_json_to({"type": "ping", "request_id": "p1"})
        pong = await receive(socket)

    assert without(pong, "server_time") == {"type": "pong", "last_seq": 3, "request_id": "p1"}
    assert pong["server_time"].endswith("Z")


# Rate limit -----------------------------------------------------------------------------


@pytest.fixture
def three_per_ten_seconds(settings):
    settings.ROOM_RATE_LIMIT_MESSAGES = 3
    settings.ROOM_RATE_LIMIT_SECONDS = 10


def assert_rate_limited(error: dict, client_id: str) -> None:
    retry_after = error.pop("retry_after")
    error.pop("detail")
    assert error == {"type": "error", "code": "rate_limited", "client_id": client_id}
    assert 0 < retry_after <= 10


async def test_message_send_fourth_in_window_is_rate_limited(room, member, three_per_ten_seconds):
    async with joined(member, room.pk) as (socket, _):
        for n in range(3):
            await send(socket, client_id=f"ok-{n}")
            await receive_until(socket, "message.new")
        await send(socket, client_id="too-many")
        error = await receive(socket)

    assert_rate_limited(error, "too-many")
    assert await seqs(room) == [1, 2, 3]


async def test_message_send_rate_limit_counts_across_tabs(room, member, three_per_ten_seconds):
    async with joined(member, room.pk) as (tab1, _), joined(member, room.pk) as (tab2, _):
        for n, tab in enumerate([tab1, tab2, tab1]):
            await send(tab, client_id=f"ok-{n}")
            await receive_until(tab, "message.new")
        await send(tab2, client_id="too-many")
        error = await receive_until(tab2, "error")

    assert_rate_limited(error, "too-many")
    assert await seqs(room) == [1, 2, 3]


async def test_message_send_rate_limit_counts_across_rooms(room, member, three_per_ten_seconds):
    other_room = await adb(RoomFactory)()
    await adb(MembershipFactory)(community=other_room.community, user=member)

    async with joined(member, room.pk) as (here, _), joined(member, other_room.pk) as (there, _):
        for n, socket in enumerate([here, there, here]):
            await send(socket, client_id=f"ok-{n}")
            await receive_until(socket, "message.new")
        await send(there, client_id="too-many")
        error = await receive_until(there, "error")

    assert_rate_limited(error, "too-many")
    assert await seqs(room) == [1, 2]
    assert await seqs(other_room) == [1]


async def test_message_send_rate_limit_is_per_user(room, three_per_ten_seconds):
    ada = await member_make(room.community)
    ben = await member_make(room.community)
    await messages_make(room, ada, 3)

    async with joined(ben, room.pk) as (socket, _):
        await send(socket, client_id="ben-1")
        echo = await receive(socket)

    assert echo["message"]["seq"] == 4


# Presence -------------------------------------------------------------------------------


async def test_presence_second_user_is_announced_to_the_first(room):
    ada = await member_make(room.community, user__display_name="Ada")
    ben = await member_make(room.community, user__display_name="Ben")
    both = [{"id": ada.pk, "name": "Ada"}, {"id": ben.pk, "name": "Ben"}]

    async with (
        joined(ada, room.pk) as (ada_socket, ada_frames),
        joined(ben, room.pk) as (_ben_socket, ben_frames),
    ):
        announced = await receive(ada_socket)

    assert ada_frames[0]["online"] == [{"id": ada.pk, "name": "Ada"}]
    assert ben_frames[0]["online"] == both
    assert announced == {"type": "presence", "online": both}


async def test_presence_two_tabs_count_once(room):
    ada = await member_make(room.community, user__display_name="Ada")
    ben = await member_make(room.community, user__display_name="Ben")

    async with (
        joined(ben, room.pk) as (ben_socket, _),
        joined(ada, room.pk) as (_tab1, _),
        joined(ada, room.pk) as (_tab2, tab2_frames),
    ):
        announced = await drain(ben_socket)  # exactly one presence frame, not two

    assert tab2_frames[0]["online"] == [
        {"id": ada.pk, "name": "Ada"},
        {"id": ben.pk, "name": "Ben"},
    ]
    assert [frame["type"] for frame in tab2_frames] == ["room.state", "history"]
    assert announced == [
        {
            "type": "presence",
            "online": [{"id": ada.pk, "name": "Ada"}, {"id": ben.pk, "name": "Ben"}],
        }
    ]


async def test_presence_last_tab_closing_is_announced(room):
    ada = await member_make(room.community, user__display_name="Ada")
    ben = await member_make(room.community, user__display_name="Ben")

    async with joined(ada, room.pk) as (ada_socket, _):
        async with joined(ben, room.pk) as (_tab1, _):
            async with joined(ben, room.pk) as (_tab2, _):
                await arrival(ada_socket)
            after_one_tab = await ada_socket.receive_nothing(QUIET)
        announced = await receive(ada_socket)

    assert after_one_tab is True
    assert announced == {"type": "presence", "online": [{"id": ada.pk, "name": "Ada"}]}
    assert await adb(Presence.objects.count)() == 0


async def test_presence_heartbeat_sweeps_a_dead_connection(room, member, settings):
    settings.LIVE_HEARTBEAT_SECONDS = 0.2
    gone = await member_make(room.community)
    await adb(Presence.objects.create)(
        room=room,
        user=gone,
        channel_name="specific.dead-process!abc",
        last_seen=timezone.now() - timedelta(minutes=5),
    )

    async with connected(member, room.pk) as socket:
        await socket.connect()
        frames = []
        while not any(f["type"] == "heartbeat" for f in frames):
            frames.append(await receive(socket))
        left = await adb(lambda: list(Presence.objects.values_list("user_id", flat=True)))()
        frames += await drain(socket)

    only_member = [{"id": member.pk, "name": member.display_name}]
    assert frames[0]["online"] == only_member
    # The sweep changes nothing the room was told (the dead row was already too old to
    # count), so no second, identical presence frame.
    assert [f for f in frames if f["type"] == "presence"] == [
        {"type": "presence", "online": only_member}
    ]
    assert left == [member.pk]


# Heartbeat ------------------------------------------------------------------------------


async def test_heartbeat_carries_the_rooms_last_seq(room, member, settings):
    settings.LIVE_HEARTBEAT_SECONDS = 0.2
    await messages_make(room, member, 3)

    async with connected(member, room.pk) as socket:
        await socket.connect()
        heartbeat = await receive_until(socket, "heartbeat")
        presence = await adb(Presence.objects.get)(user=member)

    assert without(heartbeat, "server_time") == {
        "type": "heartbeat",
        "last_seq": await last_seq(room),
    }
    assert heartbeat["last_seq"] == 3
    assert heartbeat["server_time"].endswith("Z")
    assert timezone.now() - presence.last_seen < timedelta(seconds=5)


# Membership ends while connected --------------------------------------------------------


async def test_kick_on_leave_closes_4403_and_sends_nothing_more(room):
    leaver = await member_make(room.community)
    stayer = await member_make(room.community)

    async with (
        joined(leaver, room.pk) as (leaver_socket, _),
        joined(stayer, room.pk) as (stayer_socket, _),
    ):
        await arrival(leaver_socket)
        await adb(community_services.membership_leave)(user=leaver, community=room.community)
        closed = await leaver_socket.receive_output(1)

        await send(stayer_socket, body="After you left", client_id="after")
        echo = await receive(stayer_socket)

        assert await leaver_socket.receive_nothing(QUIET) is True
    assert closed == {"type": "websocket.close", "code": 4403}
    assert echo["message"]["seq"] == 1


async def test_kick_on_removal_closes_4403_and_sends_nothing_more(room):
    manager = await member_make(room.community, role="manager")
    removed = await adb(MembershipFactory)(community=room.community)
    removed_user = removed.user  # loaded by the factory

    async with (
        joined(removed_user, room.pk) as (removed_socket, _),
        joined(manager, room.pk) as (manager_socket, _),
    ):
        await arrival(removed_socket)
        await adb(community_services.membership_remove)(actor=manager, membership=removed)
        closed = await removed_socket.receive_output(1)

        await send(manager_socket, body="Carry on", client_id="after")
        echo = await receive(manager_socket)

        assert await removed_socket.receive_nothing(QUIET) is True
    assert closed == {"type": "websocket.close", "code": 4403}
    assert echo["message"]["seq"] == 1


async def test_kick_leaves_rooms_of_other_communities_open(room, member):
    other_room = await adb(RoomFactory)()
    await adb(MembershipFactory)(community=other_room.community, user=member)

    async with joined(member, room.pk) as (here, _), joined(member, other_room.pk) as (there, _):
        await adb(community_services.membership_leave)(user=member, community=room.community)
        closed = await here.receive_output(1)
        await there.send_json_to({"type": "ping"})
        pong = await receive(there)

    assert closed == {"type": "websocket.close", "code": 4403}
    assert pong["type"] == "pong"


@adb
def membership_end_silently(user, community) -> None:
    """End a membership without the signal, as if the kick were lost."""
    Membership.objects.filter(user=user, community=community).update(
        status=MembershipStatus.LEFT, ended_at=timezone.now()
    )


@pytest.mark.parametrize(
    ("frame", "echo"),
    [
        ({"type": "message.send", "body": "Hi", "client_id": "late"}, {"client_id": "late"}),
        ({"type": "message.report", "seq": 1, "reason": "Spam"}, {}),
        ({"type": "history.fetch", "after": 0, "request_id": "h"}, {"request_id": "h"}),
    ],
    ids=["send", "report", "history"],
)
async def test_frame_after_lost_kick_answers_not_member_then_closes(room, frame, echo):
    leaver = await member_make(room.community)
    await adb(MessageFactory)(room=room, author=leaver)

    async with joined(leaver, room.pk) as (socket, _):
        await membership_end_silently(leaver, room.community)
        await socket.send_json_to(frame)
        error = await receive(socket)
        closed = await socket.receive_output(1)

    assert without(error, "detail") == {"type": "error", "code": "not_member", **echo}
    assert closed == {"type": "websocket.close", "code": 4403}
    assert await seqs(room) == [1]
    assert await adb(Report.objects.count)() == 0


# Changes made while away ----------------------------------------------------------------


async def test_resume_changed_since_sends_changes_to_messages_already_held(room, member):
    _first, second, third = [await adb(MessageFactory)(room=room, author=member) for _ in range(3)]
    away_since = timezone.now() - timedelta(seconds=1)
    await adb(rooms_services.message_edit)(
        user=member, room_id=room.pk, seq=second.seq, body="Edited while you were away"
    )
    since = away_since.isoformat().replace("+00:00", "Z")

    async with connected(member, room.pk, f"after={third.seq}&changed_since={since}") as socket:
        await socket.connect()
        state = await receive(socket)
        update = await receive(socket)
        history = await receive(socket)

    assert state["type"] == "room.state"
    assert update["type"] == "message.updated"
    assert update["message"]["seq"] == second.seq
    assert update["message"]["body"] == "Edited while you were away"
    assert history["type"] == "history"
    assert history["messages"] == []


async def test_resume_changed_since_after_the_change_sends_none(room, member):
    message = await adb(MessageFactory)(room=room, author=member)
    await adb(rooms_services.message_delete)(user=member, room_id=room.pk, seq=message.seq)
    since = (timezone.now() + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")

    async with connected(member, room.pk, f"after={message.seq}&changed_since={since}") as s:
        await s.connect()
        kinds = [(await receive(s))["type"], (await receive(s))["type"]]

    assert kinds == ["room.state", "history"]


@pytest.mark.parametrize("since", ["yesterday", "2026-01-01T00:00:00", ""])
async def test_resume_changed_since_unreadable_or_naive_is_ignored(room, member, since):
    message = await adb(MessageFactory)(room=room, author=member)
    await adb(rooms_services.message_delete)(user=member, room_id=room.pk, seq=message.seq)

    async with connected(member, room.pk, f"after={message.seq}&changed_since={since}") as s:
        await s.connect()
        kinds = [(await receive(s))["type"], (await receive(s))["type"]]

    assert kinds == ["room.state", "history"]


# Frames stay under Daphne's size limit ----------------------------------------------------


@pytest.mark.parametrize("query", ["", "after=0"])
async def test_a_page_of_long_messages_is_cut_to_fit_one_frame(room, member, query):
    """Daphne's --websocket-max-message-size (64 KB) bounds what the server sends too: a
    page of 4,000-character messages is cut nearest its anchor, and `has_more` says so."""
    long_body = "\N{GRINNING FACE}" * 4000  # 16 KB in UTF-8
    await adb(
        lambda: [MessageFactory(room=room, author=member, body=long_body) for _ in range(8)]
    )()

    async with connected(member, room.pk, query) as socket:
        await socket.connect()
        await receive(socket)  # room.state
        raw = await socket.receive_from(2)
    page = json.loads(raw)

    assert len(raw.encode()) <= 65536
    seqs = [m["seq"] for m in page["messages"]]
    assert page["has_more"] is True and 0 < len(seqs) < 8
    if query:  # resuming: the oldest first, the rest fetched next
        assert seqs == list(range(1, len(seqs) + 1))
    else:  # the newest, as a fresh page shows them
        assert seqs == list(range(9 - len(seqs), 9))
