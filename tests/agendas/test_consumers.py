"""The meeting socket through the real ASGI stack (origin check, session, router): the
whole state on connect and after each change, versions rising by one, refusals as
`error` frames that change nothing, and the clock moving a turn by itself."""

import json
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from agendas.enums import ItemKind
from agendas.models import Agenda, AgendaItem, Run, Turn
from chatserver.asgi import application
from communities.enums import JoinPolicy, MembershipStatus
from communities.models import Membership
from meetings import services as meeting_services
from tests.factories import CommunityFactory, MembershipFactory, UserFactory
from tests.rooms.conftest import session_cookie

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

db = database_sync_to_async


@pytest.fixture(autouse=True)
def _check_events_serialise(settings):
    settings.EVENTS_CHECK_JSON = True


@asynccontextmanager
async def connected(user, meeting_id, origin: bytes = b"http://testserver"):
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if user is not None:
        cookie = await db(session_cookie)(user)
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/meetings/{meeting_id}/", headers=headers
    )
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def receive(communicator, timeout: float = 3) -> dict:
    return json.loads(await communicator.receive_from(timeout))


async def receive_until(communicator, kind: str, timeout: float = 3, **match) -> dict:
    while True:
        frame = await receive(communicator, timeout)
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def settled(communicator, version: int) -> dict:
    """The state once it is `version` or more and no more frames come for a moment: the
    frame sent on connecting and the broadcast of the same arrival may both carry it."""
    state = await state_at_least(communicator, version)
    while not await communicator.receive_nothing(0.3):
        frame = await receive(communicator)
        if frame["type"] == "meeting.state":
            state = frame
    return state


async def state_at_least(communicator, version: int, timeout: float = 3) -> dict:
    while True:
        frame = await receive_until(communicator, "meeting.state", timeout)
        if frame["version"] >= version:
            return frame


def _world(join_policy=JoinPolicy.OPEN):
    community = CommunityFactory(join_policy=join_policy)
    joined = timezone.now() - timedelta(days=100)
    from communities.enums import Role

    manager = MembershipFactory(community=community, role=Role.MANAGER, joined_at=joined).user
    chair, member, other = (
        MembershipFactory(community=community, joined_at=joined, user__display_name=name).user
        for name in ("Ada", "Bea", "Cyd")
    )
    start = timezone.now() + timedelta(minutes=30)
    meeting = meeting_services.meeting_create(
        actor=manager,
        community=community,
        title="Monthly call",
        day=start.date(),
        start_time=start.time().replace(second=0, microsecond=0),
        timezone_name="UTC",
    )
    meeting.chair, meeting.backup, meeting.chair_confirmed_at = chair, member, timezone.now()
    meeting.save()
    agenda = Agenda.objects.create(meeting=meeting)
    items = [
        AgendaItem.objects.create(agenda=agenda, kind=kind, title=kind, minutes=5, position=i)
        for i, kind in enumerate([ItemKind.INTRODUCTIONS, ItemKind.ROUNDTABLE, ItemKind.FOCUS])
    ]
    return {
        "meeting": meeting,
        "chair": chair,
        "member": member,
        "other": other,
        "manager": manager,
        "items": items,
    }


async def test_everyone_gets_the_whole_state_on_connect_and_after_each_change():
    world = await db(_world)()
    meeting = world["meeting"]
    async with (
        connected(world["chair"], meeting.pk) as chair,
        connected(world["member"], meeting.pk) as member,
    ):
        assert (await chair.connect())[0] and (await member.connect())[0]
        first = await receive(chair)
        assert first["type"] == "meeting.state" and first["status"] == "scheduled"
        assert first["current_item"] is None
        assert [i["id"] for i in first["items"]] == [i.pk for i in world["items"]]
        seen = (await state_at_least(member, 2))["version"]

        await chair.send_json_to({"type": "meeting.start", "request_id": "r1"})
        done = await receive_until(chair, "command.done")
        assert done["request_id"] == "r1"
        state = await state_at_least(member, done["version"])
        assert state["version"] == seen + 1
        assert state["status"] == "live" and state["current_item"] == world["items"][0].pk
        assert {p["name"] for p in state["present"]} == {"Ada", "Bea"}


async def test_the_roundtable_over_the_socket_and_versions_rise_by_one():
    world = await db(_world)()
    meeting = world["meeting"]
    async with (
        connected(world["chair"], meeting.pk) as chair,
        connected(world["member"], meeting.pk) as member,
    ):
        await chair.connect()
        await member.connect()
        await state_at_least(chair, 2)
        versions = []
        for frame in (
            {"type": "meeting.start"},
            {"type": "agenda.next"},
            {"type": "roundtable.start", "order": "alphabetical"},
            {"type": "turn.pass"},
        ):
            await chair.send_json_to(frame)
            versions.append((await receive_until(chair, "command.done"))["version"])
        assert versions == list(range(versions[0], versions[0] + 4))
        state = await state_at_least(member, versions[-1])
        roundtable = state["roundtable"]
        assert roundtable["current_speaker"]["name"] == "Bea"
        assert [p["name"] for p in roundtable["passed"]] == ["Ada"]
        assert roundtable["turn_ends_at"] is not None


async def test_a_member_who_is_not_chair_gets_forbidden_and_nothing_changes():
    world = await db(_world)()
    meeting = world["meeting"]
    async with connected(world["other"], meeting.pk) as other:
        await other.connect()
        state = await receive(other)
        await other.send_json_to({"type": "meeting.start", "request_id": "x"})
        error = await receive_until(other, "error")
        assert error["code"] == "forbidden" and error["request_id"] == "x"
        run = await db(Run.objects.get)(meeting=meeting)
    assert run.status == "scheduled" and run.version == state["version"]
    assert state["status"] == "scheduled"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "agenda.next"}, "not_started"),
        ({"type": "meeting.dance"}, "unknown_type"),
        ({"type": "agenda.goto"}, "missing_field"),
        ({"type": "agenda.goto", "item": "2"}, "invalid_field"),
        ({"type": "queue.move", "user": 1, "position": -1}, "invalid_field"),
        ({"type": "turn.lines", "challenge": "x"}, "no_turn"),
        ({"type": "turn.lines", "private": "yes"}, "invalid_field"),
    ],
)
async def test_bad_frames_get_one_error_and_change_nothing(frame, code):
    world = await db(_world)()
    meeting = world["meeting"]
    async with connected(world["chair"], meeting.pk) as chair:
        await chair.connect()
        state = await settled(chair, 1)
        await chair.send_json_to({**frame, "request_id": "bad"})
        error = await receive(chair)
        assert (error["type"], error["code"], error["request_id"]) == ("error", code, "bad")
        assert await chair.receive_nothing(0.3), await receive(chair)
        run = await db(Run.objects.get)(meeting=meeting)
        assert run.version == state["version"]


async def test_goto_an_item_that_does_not_exist_and_extending_past_the_bound():
    world = await db(_world)()
    meeting = world["meeting"]
    async with connected(world["chair"], meeting.pk) as chair:
        await chair.connect()
        for frame in (
            {"type": "meeting.start"},
            {"type": "agenda.next"},
            {"type": "roundtable.start"},
            {"type": "turn.extend"},
            {"type": "turn.extend"},
        ):
            await chair.send_json_to(frame)
            await receive_until(chair, "command.done")
        version = (await db(Run.objects.get)(meeting=meeting)).version
        for frame, code in (
            ({"type": "agenda.goto", "item": 10**9}, "bad_item"),
            ({"type": "turn.extend"}, "extend_limit"),
        ):
            await chair.send_json_to(frame)
            assert (await receive_until(chair, "error"))["code"] == code
        assert (await db(Run.objects.get)(meeting=meeting)).version == version


async def test_commands_after_the_meeting_ended_are_refused_and_change_nothing():
    world = await db(_world)()
    meeting = world["meeting"]
    async with connected(world["chair"], meeting.pk) as chair:
        await chair.connect()
        for frame in ({"type": "meeting.start"}, {"type": "meeting.end"}):
            await chair.send_json_to(frame)
            await receive_until(chair, "command.done")
        while not await chair.receive_nothing(0.3):  # the states those moves sent
            await receive(chair)
        ended = await db(Run.objects.values("status", "version").get)(meeting=meeting)
        assert ended["status"] == "ended"
        for frame in ({"type": "agenda.next"}, {"type": "meeting.start"}, {"type": "turn.next"}):
            await chair.send_json_to({**frame, "request_id": "late"})
            error = await receive(chair)
            assert (error["type"], error["code"], error["request_id"]) == ("error", "ended", "late")
        assert await chair.receive_nothing(0.3)
        assert (await db(Run.objects.get)(meeting=meeting)).version == ended["version"]


async def test_the_speaker_records_their_lines_and_an_over_long_line_is_refused():
    world = await db(_world)()
    meeting = world["meeting"]
    async with (
        connected(world["chair"], meeting.pk) as chair,
        connected(world["member"], meeting.pk) as member,
    ):
        await chair.connect()
        await member.connect()
        await state_at_least(chair, 2)
        for frame in (
            {"type": "meeting.start"},
            {"type": "agenda.next"},
            {"type": "roundtable.start", "order": "alphabetical"},
            {"type": "turn.next"},  # Ada is done: Bea speaks
        ):
            await chair.send_json_to(frame)
            await receive_until(chair, "command.done")
        await member.send_json_to(
            {"type": "turn.lines", "challenge": "x" * 301, "help": "", "request_id": "long"}
        )
        assert (await receive_until(member, "error"))["code"] == "line_too_long"
        await member.send_json_to(
            {
                "type": "turn.lines",
                "challenge": "  Wait times   doubled ",
                "help": "Share triage forms",
                "private": True,
            }
        )
        saved = await receive_until(member, "turn.lines.saved")
        assert saved["challenge"] == "Wait times doubled" and saved["private"] is True
    turn = await db(Turn.objects.get)(user=world["member"])
    assert (turn.challenge, turn.help_wanted, turn.private) == (
        "Wait times doubled",
        "Share triage forms",
        True,
    )


async def test_the_clock_moves_a_turn_that_ran_out_by_itself_and_warns_before():
    world = await db(_world)()
    meeting = world["meeting"]
    async with (
        connected(world["chair"], meeting.pk) as chair,
        connected(world["member"], meeting.pk) as member,
    ):
        await chair.connect()
        await member.connect()
        await state_at_least(chair, 2)
        for frame in (
            {"type": "meeting.start"},
            {"type": "agenda.next"},
            {"type": "roundtable.start", "order": "alphabetical"},
        ):
            await chair.send_json_to(frame)
            await receive_until(chair, "command.done")

        # Ada's turn: ten seconds and a half left, then the clock warns and moves it on.
        def nearly_over():
            Run.objects.filter(meeting=meeting).update(
                turn_ends_at=timezone.now() + timedelta(seconds=10.5)
            )

        await db(nearly_over)()
        warning = await receive_until(member, "turn.warning", timeout=3)
        assert warning["speaker"] == world["chair"].pk
        state = await receive_until(member, "meeting.state", timeout=14)
        while state["roundtable"]["current_speaker"]["name"] != "Bea":
            state = await receive_until(member, "meeting.state", timeout=14)
        assert [p["name"] for p in state["roundtable"]["done"]] == ["Ada"]


async def test_outsiders_are_refused_with_the_close_codes():
    world = await db(_world)(JoinPolicy.INVITATION)
    meeting = world["meeting"]
    stranger = await db(UserFactory)()
    async with connected(stranger, meeting.pk) as socket:
        await socket.connect()
        assert (await socket.receive_output(3))["type"] == "websocket.close"
    async with connected(world["member"], 10**9) as socket:
        await socket.connect()
        closed = await socket.receive_output(3)
        assert closed == {"type": "websocket.close", "code": 4404}
    async with connected(None, meeting.pk) as socket:
        await socket.connect()
        assert (await socket.receive_output(3))["code"] == 4401


async def test_a_stranger_to_an_open_community_gets_4403_and_a_hidden_one_4404():
    open_world = await db(_world)(JoinPolicy.OPEN)
    hidden_world = await db(_world)(JoinPolicy.INVITATION)
    stranger = await db(UserFactory)()
    for world, code in ((open_world, 4403), (hidden_world, 4404)):
        async with connected(stranger, world["meeting"].pk) as socket:
            await socket.connect()
            closed = await socket.receive_output(3)
            assert closed == {"type": "websocket.close", "code": code}


async def test_a_member_who_leaves_is_closed_with_4403():
    world = await db(_world)()
    meeting = world["meeting"]

    def leave():
        from communities.services import membership_leave

        membership_leave(user=world["other"], community=meeting.community)

    async with connected(world["other"], meeting.pk) as other:
        await other.connect()
        await receive(other)
        await db(leave)()
        while True:
            output = await other.receive_output(3)
            if output["type"] == "websocket.close":
                break
        assert output["code"] == 4403
    status = await db(
        lambda: Membership.objects.get(community=meeting.community, user=world["other"]).status
    )()
    assert status == MembershipStatus.LEFT
