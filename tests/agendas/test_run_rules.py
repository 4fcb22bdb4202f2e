"""The live run's rules, without a database: what each command does, and every refusal."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from agendas import run as rules
from agendas.enums import ItemKind, RunStatus

NOW = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
ITEMS = [
    rules.Item(1, ItemKind.INTRODUCTIONS),
    rules.Item(2, ItemKind.ROUNDTABLE),
    rules.Item(3, ItemKind.FOCUS),
]
MEMBERS = {10: "Zoé", 11: "amir", 12: "Béa", 13: "Chen"}
CTX = rules.Context(
    items=ITEMS,
    present=[10, 11, 12],
    members=MEMBERS,
    turn_seconds=60,
    planned_end=NOW + timedelta(hours=1),
)


def _live(**changes) -> rules.State:
    return replace(rules.State(status=RunStatus.LIVE, started_at=NOW, current_item=1), **changes)


def _roundtable(now=NOW, order="alphabetical") -> rules.State:
    state = _live(current_item=2)
    return rules.apply(state, "roundtable.start", {"order": order}, CTX, now=now).state


def test_start_goes_live_on_the_first_item():
    outcome = rules.apply(rules.State(), "meeting.start", {}, CTX, now=NOW)
    assert outcome.state.status == RunStatus.LIVE
    assert outcome.state.current_item == 1
    assert outcome.items_started == (1,)


def test_start_works_early_but_not_after_the_planned_end_nor_twice_nor_after_the_end():
    early = NOW - timedelta(days=2)
    assert rules.apply(rules.State(), "meeting.start", {}, CTX, now=early).state.status == "live"
    with pytest.raises(rules.CommandError) as late:
        rules.apply(rules.State(), "meeting.start", {}, CTX, now=CTX.planned_end)
    assert late.value.code == "too_late"
    with pytest.raises(rules.CommandError) as twice:
        rules.apply(_live(), "meeting.start", {}, CTX, now=NOW)
    assert twice.value.code == "started"
    with pytest.raises(rules.CommandError) as again:
        rules.apply(rules.State(status=RunStatus.ENDED), "meeting.start", {}, CTX, now=NOW)
    assert again.value.code == "ended"
    with pytest.raises(rules.CommandError) as cancelled:
        rules.apply(rules.State(), "meeting.start", {}, replace(CTX, cancelled=True), now=NOW)
    assert cancelled.value.code == "cancelled"


@pytest.mark.parametrize(
    "command", sorted(rules.CHAIR_COMMANDS - {"meeting.start"}), ids=lambda c: c
)
def test_every_other_command_before_the_start_or_after_the_end_is_refused(command):
    for state, code in ((rules.State(), "not_started"), (rules.State(status="ended"), "ended")):
        with pytest.raises(rules.CommandError) as refused:
            rules.apply(state, command, {"item": 2, "user": 10, "position": 0}, CTX, now=NOW)
        assert refused.value.code == code


def test_unknown_command_is_refused():
    with pytest.raises(rules.CommandError) as refused:
        rules.apply(_live(), "agenda.skip_everything", {}, CTX, now=NOW)
    assert refused.value.code == "unknown_type"


def test_next_previous_and_goto_move_and_say_which_items_started_and_ended():
    outcome = rules.apply(_live(), "agenda.next", {}, CTX, now=NOW)
    assert (outcome.state.current_item, outcome.items_ended, outcome.items_started) == (
        2,
        (1,),
        (2,),
    )
    outcome = rules.apply(outcome.state, "agenda.goto", {"item": 3}, CTX, now=NOW)
    assert outcome.state.current_item == 3
    outcome = rules.apply(outcome.state, "agenda.previous", {}, CTX, now=NOW)
    assert outcome.state.current_item == 2


@pytest.mark.parametrize(
    ("state", "command", "args", "code"),
    [
        (_live(current_item=3), "agenda.next", {}, "last_item"),
        (_live(current_item=1), "agenda.previous", {}, "first_item"),
        (_live(), "agenda.goto", {"item": 99}, "bad_item"),
        (_live(), "agenda.goto", {"item": "2"}, "bad_item"),
        (_live(), "agenda.goto", {"item": True}, "bad_item"),
        (_live(), "agenda.goto", {}, "bad_item"),
        (_live(), "agenda.goto", {"item": 1}, "same_item"),
        (_live(), "roundtable.start", {}, "not_roundtable"),
        (_live(current_item=2), "roundtable.start", {"order": "loudest"}, "bad_order"),
        (_live(current_item=2), "turn.next", {}, "no_turn"),
        (_live(current_item=2), "queue.add", {"user": 999}, "bad_user"),
        (_live(current_item=2), "queue.remove", {"user": 10}, "not_in_queue"),
        (_live(handed_over=True), "chair.handover", {}, "handed_over"),
    ],
)
def test_bad_commands_are_refused_with_a_code(state, command, args, code):
    with pytest.raises(rules.CommandError) as refused:
        rules.apply(state, command, args, CTX, now=NOW)
    assert refused.value.code == code


def test_roundtable_queues_those_present_alphabetically_and_the_first_speaks_a_minute():
    state = _roundtable()
    # Present: Zoé (10), amir (11), Béa (12); Chen (13) is not there.
    assert state.speaker == 11
    assert state.queue == (12, 10)
    assert state.turn_ends_at == NOW + timedelta(seconds=60)


def test_random_order_queues_the_same_people():
    state = _roundtable(order="random")
    assert {state.speaker, *state.queue} == {10, 11, 12}


def test_nobody_present_cannot_start_the_roundtable():
    with pytest.raises(rules.CommandError) as refused:
        rules.apply(
            _live(current_item=2), "roundtable.start", {}, replace(CTX, present=[]), now=NOW
        )
    assert refused.value.code == "nobody_present"


def test_next_and_pass_move_the_speaker_to_done_or_passed():
    state = _roundtable()
    later = NOW + timedelta(seconds=20)
    outcome = rules.apply(state, "turn.next", {}, CTX, now=later)
    assert outcome.turn_ended == (11, False)
    assert outcome.state.speaker == 12 and outcome.state.done == (11,)
    assert outcome.state.turn_ends_at == later + timedelta(seconds=60)
    outcome = rules.apply(outcome.state, "turn.pass", {}, CTX, now=later)
    assert outcome.turn_ended == (12, True)
    assert outcome.state.passed == (12,) and outcome.state.speaker == 10
    outcome = rules.apply(outcome.state, "turn.next", {}, CTX, now=later)
    assert outcome.state.speaker is None and outcome.state.queue == ()
    assert outcome.state.turn_ends_at is None


def test_removing_someone_from_the_queue_never_restarts_the_speakers_countdown():
    state = _roundtable()
    later = NOW + timedelta(seconds=40)
    outcome = rules.apply(state, "queue.remove", {"user": 12}, CTX, now=later)
    assert outcome.state.turn_ends_at == state.turn_ends_at
    assert outcome.state.speaker == state.speaker and outcome.state.queue == (10,)


def test_queue_add_and_move():
    state = _roundtable()
    state = rules.apply(state, "queue.add", {"user": 13}, CTX, now=NOW).state
    assert state.queue == (12, 10, 13)
    state = rules.apply(state, "queue.move", {"user": 13, "position": 0}, CTX, now=NOW).state
    assert state.queue == (13, 12, 10)
    for args in ({"user": 13, "position": 3}, {"user": 13, "position": -1}, {"user": 13}):
        with pytest.raises(rules.CommandError) as refused:
            rules.apply(state, "queue.move", args, CTX, now=NOW)
        assert refused.value.code == "bad_position"
    with pytest.raises(rules.CommandError):
        rules.apply(state, "queue.add", {"user": 11}, CTX, now=NOW)  # speaking now


def test_extend_twice_by_thirty_seconds_then_refused():
    state = _roundtable()
    for _ in range(2):
        state = rules.apply(state, "turn.extend", {}, CTX, now=NOW).state
    assert state.turn_ends_at == NOW + timedelta(seconds=120)
    with pytest.raises(rules.CommandError) as refused:
        rules.apply(state, "turn.extend", {}, CTX, now=NOW)
    assert refused.value.code == "extend_limit"


def test_pause_keeps_the_time_left_and_resume_gives_it_back():
    state = _roundtable()
    paused = rules.apply(state, "turn.pause", {}, CTX, now=NOW + timedelta(seconds=45)).state
    assert paused.turn_paused_ms == 15_000 and paused.turn_ends_at is None
    assert rules.expire(paused, CTX, now=NOW + timedelta(hours=1)) is None
    with pytest.raises(rules.CommandError):
        rules.apply(paused, "turn.pause", {}, CTX, now=NOW)
    later = NOW + timedelta(minutes=5)
    resumed = rules.apply(paused, "turn.resume", {}, CTX, now=later).state
    assert resumed.turn_ends_at == later + timedelta(seconds=15)
    with pytest.raises(rules.CommandError):
        rules.apply(resumed, "turn.resume", {}, CTX, now=later)


def test_the_timer_advances_only_once_the_deadline_passed():
    state = _roundtable()
    assert rules.expire(state, CTX, now=NOW + timedelta(seconds=59)) is None
    outcome = rules.expire(state, CTX, now=NOW + timedelta(seconds=60))
    assert outcome.state.speaker == 12 and outcome.turn_ended == (11, False)


def test_the_warning_is_due_in_the_last_ten_seconds_only():
    state = _roundtable()
    assert not rules.warning_due(state, now=NOW + timedelta(seconds=49))
    assert rules.warning_due(state, now=NOW + timedelta(seconds=50))
    assert not rules.warning_due(state, now=NOW + timedelta(seconds=60))


def test_leaving_the_roundtable_ends_the_turn_and_keeps_the_queue():
    state = _roundtable()
    outcome = rules.apply(state, "agenda.next", {}, CTX, now=NOW)
    assert outcome.turn_ended == (11, False)
    assert outcome.state.speaker is None and outcome.state.queue == (12, 10)


def test_end_finishes_the_item_and_the_turn():
    outcome = rules.apply(_roundtable(), "meeting.end", {}, CTX, now=NOW)
    assert outcome.state.status == RunStatus.ENDED
    assert outcome.items_ended == (2,) and outcome.turn_ended == (11, False)
    assert outcome.state.current_item is None and outcome.state.speaker is None


def test_a_run_left_live_ends_two_hours_after_its_planned_end():
    after = timedelta(hours=2)
    end = CTX.planned_end
    state = _live()
    assert rules.end_overdue(state, planned_end=end, after=after, now=end + after * 0.9) is None
    outcome = rules.end_overdue(state, planned_end=end, after=after, now=end + after)
    assert outcome.state.status == RunStatus.ENDED


@pytest.mark.parametrize(
    ("user", "handed_over", "away", "allowed"),
    [
        (1, False, None, True),  # the chair
        (3, False, None, True),  # a manager
        (2, False, None, False),  # the backup while the chair is there
        (2, True, None, True),  # ... once the chair handed over
        (2, False, timedelta(seconds=29), False),  # ... the chair gone 29 s
        (2, False, timedelta(seconds=30), True),  # ... gone 30 s
        (4, True, timedelta(hours=1), False),  # anyone else, never
    ],
)
def test_who_may_command(user, handed_over, away, allowed):
    assert (
        rules.may_command(
            user_id=user,
            chair_id=1,
            backup_id=2,
            is_manager=user == 3,
            state=_live(handed_over=handed_over),
            chair_away_since=NOW - away if away is not None else None,
            now=NOW,
        )
        is allowed
    )
