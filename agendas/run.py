"""The live run's rules, as pure functions (no database): what each command does to the
run's state, or why it is refused. The services read the run's row, call `apply`, and
write what it returns with one conditional update (`… WHERE version = <seen>`).

Times are aware datetimes; a turn's deadline is absolute (`turn_ends_at`), so every client
draws the same countdown from it and the server's clock.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.utils.translation import gettext_lazy as _

from .enums import ItemKind, QueueOrder, RunStatus

EXTEND_SECONDS = 30
MAX_EXTENSIONS = 2
WARNING_SECONDS = 10
BACKUP_AFTER = timedelta(seconds=30)  # the chair gone this long: the backup may act


class CommandError(Exception):
    """A refused command: `code` is stable (docs/protocol.md), `message` is for people."""

    def __init__(self, code: str, message):
        super().__init__(str(message))
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Item:
    id: int
    kind: str


@dataclass(frozen=True)
class State:
    """What the commands read and write: the fields of the run's row that may change."""

    status: str = RunStatus.SCHEDULED
    current_item: int | None = None
    queue: tuple[int, ...] = ()
    done: tuple[int, ...] = ()
    passed: tuple[int, ...] = ()
    speaker: int | None = None
    turn_started_at: datetime | None = None
    turn_ends_at: datetime | None = None
    turn_paused_ms: int | None = None
    turn_extensions: int = 0
    handed_over: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Context:
    """What the rules need besides the state: the agenda's items in order, who is present
    (user ids), the members (id → name, to order alphabetically), the turn's length."""

    items: Sequence[Item]
    present: Sequence[int] = ()
    members: dict[int, str] = field(default_factory=dict)
    turn_seconds: int = 60
    planned_end: datetime | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class Outcome:
    """The new state, and what happened to the items and turns (for their rows and the
    run log): `items_started`/`items_ended` item ids; `turn_ended`: (user id, passed)."""

    state: State
    items_started: tuple[int, ...] = ()
    items_ended: tuple[int, ...] = ()
    turn_started: int | None = None
    turn_ended: tuple[int, bool] | None = None


# The commands about the current turn (they may name its speaker: see services).
TURN_COMMANDS = {"turn.next", "turn.pass", "turn.extend", "turn.pause", "turn.resume"}

CHAIR_COMMANDS = {
    "meeting.start",
    "agenda.next",
    "agenda.previous",
    "agenda.goto",
    "roundtable.start",
    "queue.add",
    "queue.remove",
    "queue.move",
    "turn.next",
    "turn.pass",
    "turn.extend",
    "turn.pause",
    "turn.resume",
    "chair.handover",
    "meeting.end",
}


def may_command(
    *,
    user_id: int,
    chair_id: int | None,
    backup_id: int | None,
    is_manager: bool,
    state: State,
    chair_away_since: datetime | None,
    now: datetime,
) -> bool:
    """The chair, a manager, or the backup once the chair handed over or has been gone
    30 seconds."""
    if is_manager or (chair_id is not None and user_id == chair_id):
        return True
    if backup_id is None or user_id != backup_id:
        return False
    gone = chair_away_since is not None and now - chair_away_since >= BACKUP_AFTER
    return state.handed_over or gone or chair_id is None


def _live(state: State) -> None:
    if state.status == RunStatus.SCHEDULED:
        raise CommandError("not_started", _("The meeting has not started yet."))
    if state.status == RunStatus.ENDED:
        raise CommandError("ended", _("The meeting has ended."))


def _item_index(ctx: Context, item_id: int | None) -> int | None:
    for index, item in enumerate(ctx.items):
        if item.id == item_id:
            return index
    return None


def _finish_turn(state: State, now: datetime, *, passed: bool = False):
    """The speaker's turn ends (spoke, or passed): they join `done` or `passed`."""
    if state.speaker is None:
        return state, None
    ended = (state.speaker, passed)
    if passed:
        state = replace(state, passed=(*state.passed, state.speaker))
    else:
        state = replace(state, done=(*state.done, state.speaker))
    return _clear_turn(state), ended


def _clear_turn(state: State) -> State:
    return replace(
        state,
        speaker=None,
        turn_started_at=None,
        turn_ends_at=None,
        turn_paused_ms=None,
        turn_extensions=0,
    )


def _next_speaker(state: State, ctx: Context, now: datetime):
    """The first in the queue speaks now, for one turn; None when the queue is empty."""
    if not state.queue:
        return state, None
    speaker, *rest = state.queue
    state = replace(
        state,
        queue=tuple(rest),
        speaker=speaker,
        turn_started_at=now,
        turn_ends_at=now + timedelta(seconds=ctx.turn_seconds),
        turn_paused_ms=None,
        turn_extensions=0,
    )
    return state, speaker


def _move_to(state: State, ctx: Context, index: int, now: datetime) -> Outcome:
    """The current item ends (and its turn), the item at `index` starts."""
    target = ctx.items[index].id
    if target == state.current_item:
        raise CommandError("same_item", _("This item is already the current one."))
    ended = (state.current_item,) if state.current_item is not None else ()
    state, turn_ended = _finish_turn(state, now)
    return Outcome(
        replace(state, current_item=target),
        items_started=(target,),
        items_ended=ended,
        turn_ended=turn_ended,
    )


def _member(args: dict, ctx: Context) -> int:
    user = args.get("user")
    if isinstance(user, bool) or not isinstance(user, int) or user not in ctx.members:
        raise CommandError("bad_user", _("Choose a member of this community."))
    return user


def _ordered(users: Sequence[int], ctx: Context, order: str) -> tuple[int, ...]:
    users = [u for u in dict.fromkeys(users) if u in ctx.members]
    if order == QueueOrder.ALPHABETICAL:
        return tuple(sorted(users, key=lambda u: (ctx.members[u].casefold(), u)))
    shuffled = list(users)
    random.SystemRandom().shuffle(shuffled)
    return tuple(shuffled)


def apply(state: State, command: str, args: dict, ctx: Context, *, now: datetime) -> Outcome:
    """What `command` (with `args`) does to `state`, or `CommandError` with why."""
    handler = _COMMANDS.get(command)
    if handler is None:
        raise CommandError("unknown_type", _("Unknown command."))
    return handler(state, args, ctx, now)


def _start(state, args, ctx, now):
    if ctx.cancelled:
        raise CommandError("cancelled", _("This meeting is cancelled."))
    if state.status == RunStatus.LIVE:
        raise CommandError("started", _("The meeting has already started."))
    if state.status == RunStatus.ENDED:
        raise CommandError("ended", _("The meeting has ended; it cannot start again."))
    if ctx.planned_end is not None and now >= ctx.planned_end:
        raise CommandError("too_late", _("The meeting's planned end has passed."))
    first = ctx.items[0].id if ctx.items else None
    state = replace(state, status=RunStatus.LIVE, started_at=now, current_item=first)
    return Outcome(state, items_started=(first,) if first is not None else ())


def _next(state, args, ctx, now):
    _live(state)
    index = _item_index(ctx, state.current_item)
    following = 0 if index is None else index + 1
    if following >= len(ctx.items):
        raise CommandError("last_item", _("This is the last item."))
    return _move_to(state, ctx, following, now)


def _previous(state, args, ctx, now):
    _live(state)
    index = _item_index(ctx, state.current_item)
    if not index:
        raise CommandError("first_item", _("This is the first item."))
    return _move_to(state, ctx, index - 1, now)


def _goto(state, args, ctx, now):
    _live(state)
    item = args.get("item")
    index = _item_index(ctx, item) if isinstance(item, int) and not isinstance(item, bool) else None
    if index is None:
        raise CommandError("bad_item", _("No such item on this agenda."))
    return _move_to(state, ctx, index, now)


def _roundtable(state: State, ctx: Context) -> None:
    index = _item_index(ctx, state.current_item)
    if index is None or ctx.items[index].kind != ItemKind.ROUNDTABLE:
        raise CommandError("not_roundtable", _("The roundtable is not the current item."))


def _roundtable_start(state, args, ctx, now):
    _live(state)
    _roundtable(state, ctx)
    order = args.get("order", QueueOrder.RANDOM)
    if order not in QueueOrder.values:
        raise CommandError("bad_order", _("Order the speakers at random or alphabetically."))
    if state.speaker is not None:
        raise CommandError("turn_running", _("A turn is under way."))
    queue = _ordered(ctx.present, ctx, order)
    if not queue:
        raise CommandError("nobody_present", _("Nobody is present to speak."))
    state = replace(state, queue=queue, done=(), passed=())
    state, speaker = _next_speaker(state, ctx, now)
    return Outcome(state, turn_started=speaker)


def _queue_add(state, args, ctx, now):
    _live(state)
    user = _member(args, ctx)
    if user in state.queue or user == state.speaker:
        raise CommandError("in_queue", _("This member is already in the queue."))
    return Outcome(replace(state, queue=(*state.queue, user)))


def _queue_remove(state, args, ctx, now):
    _live(state)
    user = _member(args, ctx)
    if user not in state.queue:
        raise CommandError("not_in_queue", _("This member is not waiting in the queue."))
    # The current speaker's countdown is never touched.
    return Outcome(replace(state, queue=tuple(u for u in state.queue if u != user)))


def _queue_move(state, args, ctx, now):
    _live(state)
    user = _member(args, ctx)
    position = args.get("position")
    if user not in state.queue:
        raise CommandError("not_in_queue", _("This member is not waiting in the queue."))
    if isinstance(position, bool) or not isinstance(position, int):
        raise CommandError("bad_position", _("Give a position in the queue."))
    if not 0 <= position < len(state.queue):
        raise CommandError("bad_position", _("Give a position in the queue."))
    queue = [u for u in state.queue if u != user]
    queue.insert(position, user)
    return Outcome(replace(state, queue=tuple(queue)))


def _advance(state: State, ctx: Context, now: datetime, *, passed: bool) -> Outcome:
    state, ended = _finish_turn(state, now, passed=passed)
    state, speaker = _next_speaker(state, ctx, now)
    return Outcome(state, turn_started=speaker, turn_ended=ended)


def _speaking(state: State) -> None:
    if state.speaker is None:
        raise CommandError("no_turn", _("Nobody is speaking."))


def _turn_next(state, args, ctx, now):
    _live(state)
    _speaking(state)
    return _advance(state, ctx, now, passed=False)


def _turn_pass(state, args, ctx, now):
    _live(state)
    _speaking(state)
    return _advance(state, ctx, now, passed=True)


def _turn_extend(state, args, ctx, now):
    _live(state)
    _speaking(state)
    if state.turn_extensions >= MAX_EXTENSIONS:
        raise CommandError(
            "extend_limit", _("A turn can be extended twice at most, by 30 seconds each.")
        )
    if state.turn_paused_ms is not None:
        state = replace(state, turn_paused_ms=state.turn_paused_ms + EXTEND_SECONDS * 1000)
    else:
        state = replace(state, turn_ends_at=state.turn_ends_at + timedelta(seconds=EXTEND_SECONDS))
    return Outcome(replace(state, turn_extensions=state.turn_extensions + 1))


def _turn_pause(state, args, ctx, now):
    _live(state)
    _speaking(state)
    if state.turn_paused_ms is not None:
        raise CommandError("paused", _("The turn is already paused."))
    left = max(0, int((state.turn_ends_at - now).total_seconds() * 1000))
    return Outcome(replace(state, turn_paused_ms=left, turn_ends_at=None))


def _turn_resume(state, args, ctx, now):
    _live(state)
    _speaking(state)
    if state.turn_paused_ms is None:
        raise CommandError("not_paused", _("The turn is not paused."))
    ends = now + timedelta(milliseconds=state.turn_paused_ms)
    return Outcome(replace(state, turn_paused_ms=None, turn_ends_at=ends))


def _handover(state, args, ctx, now):
    _live(state)
    if state.handed_over:
        raise CommandError("handed_over", _("The chair has already handed over."))
    return Outcome(replace(state, handed_over=True))


def _end(state, args, ctx, now):
    _live(state)
    ended = (state.current_item,) if state.current_item is not None else ()
    state, turn_ended = _finish_turn(state, now)
    state = replace(state, status=RunStatus.ENDED, ended_at=now, current_item=None, queue=())
    return Outcome(state, items_ended=ended, turn_ended=turn_ended)


_COMMANDS = {
    "meeting.start": _start,
    "agenda.next": _next,
    "agenda.previous": _previous,
    "agenda.goto": _goto,
    "roundtable.start": _roundtable_start,
    "queue.add": _queue_add,
    "queue.remove": _queue_remove,
    "queue.move": _queue_move,
    "turn.next": _turn_next,
    "turn.pass": _turn_pass,
    "turn.extend": _turn_extend,
    "turn.pause": _turn_pause,
    "turn.resume": _turn_resume,
    "chair.handover": _handover,
    "meeting.end": _end,
}
assert set(_COMMANDS) == CHAIR_COMMANDS


def expire(state: State, ctx: Context, *, now: datetime) -> Outcome | None:
    """The timer: the speaker's turn ran out (not paused) — the next one speaks. None when
    nothing is due."""
    if state.status != RunStatus.LIVE or state.speaker is None or state.turn_ends_at is None:
        return None
    if state.turn_ends_at > now:
        return None
    return _advance(state, ctx, now, passed=False)


def warning_due(state: State, *, now: datetime) -> bool:
    """Ten seconds (or less) left in a running turn."""
    if state.status != RunStatus.LIVE or state.turn_ends_at is None:
        return False
    return state.turn_ends_at - timedelta(seconds=WARNING_SECONDS) <= now < state.turn_ends_at


def end_overdue(state: State, *, planned_end: datetime, after: timedelta, now: datetime):
    """A run left live ends by itself `after` its planned end."""
    if state.status != RunStatus.LIVE or now < planned_end + after:
        return None
    return _end(state, {}, Context(items=()), now)
