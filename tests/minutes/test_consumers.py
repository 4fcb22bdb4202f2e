"""The frames minutes adds to the meeting socket: the chair's console records notes,
decisions and action items on the item under way; anyone else, and every bad field, gets
an `error` frame and nothing is recorded."""

from datetime import timedelta

import pytest

from minutes.models import ActionItem, Decision, Note
from tests.agendas.test_consumers import (
    _world,
    connected,
    db,
    receive,
    receive_until,
    settled,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _records() -> dict:
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Note, Decision, ActionItem)
    }


async def _answer(socket, frame: dict) -> dict:
    await socket.send_json_to({**frame, "request_id": "m"})
    while True:
        answer = await receive(socket)
        if answer["type"] in ("minutes.recorded", "error"):
            assert answer["request_id"] == "m"
            return answer


async def test_the_chair_records_on_the_item_under_way():
    world = await db(_world)()
    meeting, items = world["meeting"], world["items"]
    async with connected(world["chair"], meeting.pk) as chair:
        await chair.connect()
        await settled(chair, 1)
        before = await _answer(chair, {"type": "note.add", "text": "Before we start"})
        assert (before["kind"], before["item"]) == ("note", None)
        for frame in ({"type": "meeting.start"}, {"type": "agenda.next"}):
            await chair.send_json_to(frame)
            await receive_until(chair, "command.done")

        note = await _answer(chair, {"type": "note.add", "text": "Staffing is *hard*"})
        decision = await _answer(chair, {"type": "decision.add", "text": "Share the rota"})
        day = (meeting.starts_at + timedelta(days=14)).date().isoformat()
        action = await _answer(
            chair,
            {"type": "action.add", "text": "Send the rota", "owner": world["other"].pk, "due": day},
        )

    assert [a["kind"] for a in (note, decision, action)] == ["note", "decision", "action"]
    assert {a["item"] for a in (note, decision, action)} == {items[1].pk}
    saved = await db(Note.objects.get)(pk=note["id"])
    assert (saved.text, saved.item_id, saved.author_id) == (
        "Staffing is *hard*",
        items[1].pk,
        world["chair"].pk,
    )
    assert await db(Decision.objects.filter(pk=decision["id"], item=items[1]).exists)()
    owned = await db(ActionItem.objects.get)(pk=action["id"])
    assert (owned.owner_id, owned.due_date.isoformat(), owned.text) == (
        world["other"].pk,
        day,
        "Send the rota",
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "note.add", "text": "   "}, "no_text"),
        ({"type": "note.add", "text": "x" * 2001}, "too_long"),
        ({"type": "note.add", "text": "x" * 4001}, "invalid_field"),
        ({"type": "note.add"}, "missing_field"),
        ({"type": "action.add", "text": "Do it", "owner": 10**9}, "bad_owner"),
        ({"type": "action.add", "text": "Do it", "owner": "OWNER", "due": "soon"}, "bad_due"),
        (
            {"type": "action.add", "text": "Do it", "owner": "OWNER", "due": "2001-01-01"},
            "due_past",
        ),
    ],
)
async def test_bad_records_get_an_error_and_record_nothing(frame, code):
    world = await db(_world)()
    meeting = world["meeting"]
    if frame.get("owner") == "OWNER":
        frame = {**frame, "owner": world["other"].pk}
    before = await db(_records)()
    async with connected(world["chair"], meeting.pk) as chair:
        await chair.connect()
        await settled(chair, 1)
        answer = await _answer(chair, frame)
    assert (answer["type"], answer["code"]) == ("error", code)
    assert await db(_records)() == before


async def test_a_member_who_does_not_run_the_meeting_records_nothing():
    world = await db(_world)()
    meeting = world["meeting"]
    before = await db(_records)()
    async with connected(world["other"], meeting.pk) as other:
        await other.connect()
        await settled(other, 1)
        for frame in (
            {"type": "note.add", "text": "Mine"},
            {"type": "decision.add", "text": "Mine"},
            {"type": "action.add", "text": "Mine", "owner": world["other"].pk},
        ):
            answer = await _answer(other, frame)
            assert (answer["type"], answer["code"]) == ("error", "not_recorder")
    assert await db(_records)() == before
