"""Every write of the agendas: the standing template, each meeting's agenda, topics for
future meetings, and the live run."""

import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from communities.enums import MembershipStatus
from communities.models import Membership
from communities.selectors import community_can_manage
from live.clock import iso_utc
from live.errors import LiveError
from live.events import event_send_on_commit, frame_event
from meetings.models import Meeting
from meetings.services import attendance_from_run
from rooms.services import system_message_post

from . import run as rules
from . import selectors
from .enums import RunStatus
from .models import LINE_LENGTH, AgendaItem, Connection, Run, RunLogEntry, Turn

# The live run ----------------------------------------------------------------------------
#
# One row of state per meeting (`Run`). Every move — a chair's command, the timer, who is
# present — is one conditional update `… WHERE version = <seen>` that raises `version` by
# one: of two concurrent moves exactly one wins; the loser re-reads. After the commit the
# whole state goes to every socket of the meeting (`meeting.state`); an event is never the
# state, so a client that missed one is whole again with the next.

logger = logging.getLogger(__name__)

# Commands whose meaning is "this turn": when another move won the race and the turn is
# no longer the one the command was for, it is done (the winner moved on), not repeated.
TURN_COMMANDS = rules.TURN_COMMANDS
ATTEMPTS = 3


class RunError(LiveError):
    """A refused command: the socket's `error` frame (`code`, and `detail` for people)."""


def run_get(*, meeting: Meeting) -> Run:
    """The meeting's run row (made, scheduled, on first use)."""
    run, _created = Run.objects.get_or_create(meeting=meeting)
    return run


def _state(run: Run) -> rules.State:
    return rules.State(
        status=run.status,
        current_item=run.current_item_id,
        queue=tuple(run.queue),
        done=tuple(run.done),
        passed=tuple(run.passed),
        speaker=run.speaker_id,
        turn_started_at=run.turn_started_at,
        turn_ends_at=run.turn_ends_at,
        turn_paused_ms=run.turn_paused_ms,
        turn_extensions=run.turn_extensions,
        handed_over=run.handed_over,
        started_at=run.started_at,
        ended_at=run.ended_at,
    )


def _fields(state: rules.State) -> dict:
    values = asdict(state)
    return {
        "status": values["status"],
        "current_item_id": values["current_item"],
        "queue": list(values["queue"]),
        "done": list(values["done"]),
        "passed": list(values["passed"]),
        "speaker_id": values["speaker"],
        "turn_started_at": values["turn_started_at"],
        "turn_ends_at": values["turn_ends_at"],
        "turn_paused_ms": values["turn_paused_ms"],
        "turn_extensions": values["turn_extensions"],
        "handed_over": values["handed_over"],
        "started_at": values["started_at"],
        "ended_at": values["ended_at"],
    }


def _context(meeting: Meeting, run: Run) -> rules.Context:
    items = [
        rules.Item(id=item.pk, kind=item.kind) for item in selectors.run_items(meeting=meeting)
    ]
    members = dict(
        Membership.objects.filter(community=meeting.community_id, status=MembershipStatus.ACTIVE)
        .values_list("user_id", "user__display_name")
        .order_by("user_id")
    )
    return rules.Context(
        items=items,
        present=[u for u in run.present if u in members],
        members=members,
        turn_seconds=selectors.turn_seconds(community=meeting.community),
        planned_end=meeting.ends_at,
        cancelled=meeting.is_cancelled,
    )


def _publish(meeting_id: int) -> None:
    """The whole state as this transaction wrote it (the row is locked by our update until
    the commit, so it holds exactly our version), to every socket of the meeting after the
    commit: each version goes out once, none skipped."""
    frame = selectors.run_state(meeting_id=meeting_id)
    if frame is not None:
        group = selectors.meeting_group(meeting_id)
        event_send_on_commit(group, frame_event(group, frame))


def _write(
    run: Run,
    outcome: rules.Outcome,
    *,
    now: datetime,
    command: str,
    actor: User | None,
    data: dict,
    extra: dict | None = None,
) -> bool:
    """Write `outcome` if the run is still at the version read (and `extra` holds); the
    items' times, the turns and the log with it. False when another move won."""
    changes = _fields(outcome.state)
    if (changes["speaker_id"], changes["turn_ends_at"]) != (run.speaker_id, run.turn_ends_at):
        changes["turn_warned"] = False  # a new deadline: its own warning
    starting = outcome.state.status == RunStatus.LIVE and run.status != RunStatus.LIVE
    ending = outcome.state.status == RunStatus.ENDED and run.status != RunStatus.ENDED
    if starting:
        changes["attended"] = sorted(set(run.attended) | set(run.present))
    with transaction.atomic():
        won = (
            Run.objects.filter(pk=run.pk, version=run.version, **(extra or {})).update(
                version=F("version") + 1, updated_at=now, **changes
            )
            == 1
        )
        if not won:
            return False
        version = run.version + 1
        if outcome.items_ended:
            AgendaItem.objects.filter(pk__in=outcome.items_ended).update(ended_at=now)
        if outcome.items_started:
            AgendaItem.objects.filter(pk__in=outcome.items_started, started_at=None).update(
                started_at=now
            )
            AgendaItem.objects.filter(pk__in=outcome.items_started).update(ended_at=None)
        if outcome.turn_ended is not None:
            user_id, passed = outcome.turn_ended
            Turn.objects.filter(run=run, user_id=user_id, ended_at=None).update(
                ended_at=now, passed=passed
            )
        if outcome.turn_started is not None:
            Turn.objects.create(run=run, user_id=outcome.turn_started, started_at=now)
        RunLogEntry.objects.create(
            run=run, version=version, at=now, command=command, actor=actor, data=data
        )
        _markers(run, outcome, version=version, starting=starting, ending=ending, now=now)
        if ending:
            attendance_from_run(
                meeting=Meeting.objects.get(pk=run.meeting_id),
                present_ids=changes.get("attended", run.attended),
                now=now,
            )
        _publish(run.meeting_id)
    return True


def _markers(run: Run, outcome: rules.Outcome, *, version: int, starting, ending, now) -> None:
    """The side chat's markers: the meeting started, each item's start and end, the end —
    the server's own messages, in the community's language."""
    meeting = Meeting.objects.select_related("community").get(pk=run.meeting_id)
    if meeting.room_id is None:
        return
    titles = dict(
        AgendaItem.objects.filter(
            pk__in=[*outcome.items_started, *outcome.items_ended]
        ).values_list("pk", "title")
    )
    said = []
    with translation.override(meeting.community.language):
        if starting:
            said.append(_("The meeting started."))
        for item_id in outcome.items_ended:
            said.append(_("Ended: %(item)s") % {"item": titles.get(item_id, "")})
        for item_id in outcome.items_started:
            said.append(_("Now: %(item)s") % {"item": titles.get(item_id, "")})
        if ending:
            said.append(_("The meeting ended."))
        for number, text in enumerate(said):
            system_message_post(
                room_id=meeting.room_id, body=str(text), key=f"run.{run.pk}.{version}.{number}"
            )


def _may(meeting: Meeting, run: Run, user: User, now: datetime) -> bool:
    membership = Membership.objects.filter(community=meeting.community_id, user=user).first()
    return rules.may_command(
        user_id=user.pk,
        chair_id=meeting.chair_id,
        backup_id=meeting.backup_id,
        is_manager=community_can_manage(user=user, membership=membership),
        state=_state(run),
        chair_away_since=run.chair_away_since,
        now=now,
    )


def run_command(
    *, actor: User, meeting: Meeting, command: str, args: dict | None = None, now=None
) -> Run:
    """A chair's command: refused (RunError, nothing changed) unless `actor` may run the
    meeting and the command fits its state; else written as one move. Returns the run."""
    now = now or timezone.now()
    args = args if isinstance(args, dict) else {}
    if command not in rules.CHAIR_COMMANDS:
        raise RunError("unknown_type", _("Unknown command."))
    meeting = Meeting.objects.select_related("community").get(pk=meeting.pk)
    first = None
    for _attempt in range(ATTEMPTS):
        run = run_get(meeting=meeting)
        if not _may(meeting, run, actor, now):
            raise RunError(
                "forbidden",
                _(
                    "Only the meeting's chair, its backup once handed over, or a manager "
                    "can do that."
                ),
            )
        expected = args.get("speaker")
        if command in TURN_COMMANDS and expected is not None and expected != run.speaker_id:
            return run  # that turn is over already (the clock, or another chair, moved on)
        if first is None:
            first = run
        elif command in TURN_COMMANDS and (run.speaker_id, run.turn_started_at) != (
            first.speaker_id,
            first.turn_started_at,
        ):
            return run  # the turn it was for is over: another move did it
        try:
            outcome = rules.apply(_state(run), command, args, _context(meeting, run), now=now)
        except rules.CommandError as refused:
            raise RunError(refused.code, refused.message) from None
        data = {"args": args} if args else {}
        if _write(run, outcome, now=now, command=command, actor=actor, data=data):
            return Run.objects.get(pk=run.pk)
    raise RunError("conflict", _("The meeting changed meanwhile; try again."))


def run_expire(*, meeting_id: int, now=None) -> bool:
    """The timer: if the speaker's turn has run out, the next one speaks — exactly once,
    whichever processes (and chairs pressing "next") try at the same moment."""
    now = now or timezone.now()
    run = Run.objects.select_related("meeting__community").filter(meeting_id=meeting_id).first()
    if run is None:
        return False
    outcome = rules.expire(_state(run), _context(run.meeting, run), now=now)
    if outcome is None:
        return False
    return _write(
        run,
        outcome,
        now=now,
        command="turn.expire",
        actor=None,
        data={"speaker": run.speaker_id},
        extra={"turn_ends_at__lte": now, "speaker_id": run.speaker_id},
    )


def run_warn(*, meeting_id: int, now=None) -> bool:
    """Ten seconds before a turn ends: `turn.warning` once (the process that marks the
    turn warned sends it). Not a change of state: the version stays."""
    now = now or timezone.now()
    run = Run.objects.filter(meeting_id=meeting_id).first()
    if run is None or run.turn_warned or not rules.warning_due(_state(run), now=now):
        return False
    won = Run.objects.filter(
        pk=run.pk,
        speaker_id=run.speaker_id,
        turn_ends_at=run.turn_ends_at,
        turn_warned=False,
    ).update(turn_warned=True)
    if won:
        group = selectors.meeting_group(meeting_id)
        frame = {
            "type": "turn.warning",
            "speaker": run.speaker_id,
            "turn_ends_at": iso_utc(run.turn_ends_at),
            "server_time": iso_utc(now),
        }
        event_send_on_commit(group, frame_event(group, frame))
    return bool(won)


def run_presence_set(*, meeting_id: int, present: list[int], now=None) -> bool:
    """Who has a socket open on the meeting (user ids, from every process): a change is a
    move like any other (the version rises). Notes since when the chair is away."""
    now = now or timezone.now()
    present = sorted(set(present))
    for _attempt in range(ATTEMPTS):
        run, _created = Run.objects.select_related("meeting").get_or_create(meeting_id=meeting_id)
        chair_id = run.meeting.chair_id
        away = None
        if chair_id is not None and chair_id not in present:
            away = run.chair_away_since or now
        if sorted(run.present) == present and run.chair_away_since == away:
            return False
        attended = run.attended
        if run.status == RunStatus.LIVE:
            attended = sorted(set(attended) | set(present))
        with transaction.atomic():
            won = Run.objects.filter(pk=run.pk, version=run.version).update(
                version=F("version") + 1,
                present=present,
                attended=attended,
                chair_away_since=away,
                updated_at=now,
            )
            if won:
                RunLogEntry.objects.create(
                    run=run,
                    version=run.version + 1,
                    at=now,
                    command="presence",
                    data={"present": present},
                )
                _publish(meeting_id)
                return True
    return False


def runs_end_overdue(*, now=None) -> int:
    """The periodic work: a run left live ends by itself AGENDAS_END_AFTER_HOURS (2) after
    its meeting's planned end, so its minutes still come. Safe to repeat."""
    now = now or timezone.now()
    after = timedelta(hours=settings.AGENDAS_END_AFTER_HOURS)
    ended = 0
    for run in Run.objects.select_related("meeting").filter(
        status=RunStatus.LIVE, meeting__ends_at__lte=now - after
    ):
        outcome = rules.end_overdue(
            _state(run), planned_end=run.meeting.ends_at, after=after, now=now
        )
        if outcome is not None and _write(
            run, outcome, now=now, command="meeting.end", actor=None, data={"by": "timer"}
        ):
            ended += 1
    return ended


# Who is present: the meeting's sockets, on every process ---------------------------------


def _present_now(meeting_id: int, now: datetime) -> list[int]:
    cutoff = now - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
    return sorted(
        set(
            Connection.objects.filter(meeting_id=meeting_id, last_seen__gte=cutoff).values_list(
                "user_id", flat=True
            )
        )
    )


def connection_open(*, user: User, meeting_id: int, connection_id: str, now=None) -> None:
    """A socket opens on the meeting: its user is present (a change if they were not)."""
    now = now or timezone.now()
    Connection.objects.create(
        meeting_id=meeting_id, user=user, connection_id=connection_id, last_seen=now
    )
    run_presence_set(meeting_id=meeting_id, present=_present_now(meeting_id, now), now=now)


def connection_close(*, meeting_id: int, connection_id: str, now=None) -> None:
    """A socket closes: its user leaves the present unless another of their sockets stays."""
    now = now or timezone.now()
    Connection.objects.filter(connection_id=connection_id).delete()
    run_presence_set(meeting_id=meeting_id, present=_present_now(meeting_id, now), now=now)


def connections_beat(*, connections: dict[str, tuple[int, int]], now=None) -> set[int]:
    """A process's heartbeat for its meeting sockets (connection id → (meeting id, user
    id)): refreshed in one statement (made again if swept), the connections of dead
    processes dropped, each meeting's present brought up to date. Returns the meetings."""
    now = now or timezone.now()
    ids = list(connections)
    Connection.objects.filter(connection_id__in=ids).update(last_seen=now)
    known = set(
        Connection.objects.filter(connection_id__in=ids).values_list("connection_id", flat=True)
    )
    Connection.objects.bulk_create(
        [
            Connection(connection_id=cid, meeting_id=meeting_id, user_id=user_id, last_seen=now)
            for cid, (meeting_id, user_id) in connections.items()
            if cid not in known
        ],
        ignore_conflicts=True,
    )
    meeting_ids = {meeting_id for meeting_id, _user in connections.values()}
    cutoff = now - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
    Connection.objects.filter(meeting_id__in=meeting_ids, last_seen__lt=cutoff).delete()
    for meeting_id in meeting_ids:
        run_presence_set(meeting_id=meeting_id, present=_present_now(meeting_id, now), now=now)
    return meeting_ids


def turn_lines_set(
    *,
    user: User,
    meeting: Meeting,
    challenge: str,
    help_wanted: str,
    private: bool = False,
    now=None,
) -> Turn:
    """The speaker records their two lines during their turn (or the chair for them);
    kept on the turn for the minutes; `private`: not for the minutes."""
    now = now or timezone.now()
    run = run_get(meeting=meeting)
    if run.status != RunStatus.LIVE or run.speaker_id is None:
        raise RunError("no_turn", _("Nobody is speaking."))
    if user.pk != run.speaker_id and not _may(meeting, run, user, now):
        raise RunError("forbidden", _("Only the speaker or the chair records these lines."))
    lines = {"challenge": challenge, "help_wanted": help_wanted}
    for name, text in lines.items():
        text = " ".join((text or "").split())
        if len(text) > LINE_LENGTH:
            raise RunError(
                "line_too_long",
                _("A line has at most %(max)d characters.") % {"max": LINE_LENGTH},
            )
        lines[name] = text
    turn = (
        Turn.objects.filter(run=run, user_id=run.speaker_id, ended_at=None)
        .order_by("-started_at")
        .first()
    )
    if turn is None:
        raise RunError("no_turn", _("Nobody is speaking."))
    Turn.objects.filter(pk=turn.pk).update(**lines, private=bool(private))
    turn.refresh_from_db()
    return turn


def runs_maintain(*, now=None) -> tuple[int, int]:
    """The periodic work (`manage.py agendas_maintain`, every minute): turns that ran out
    while no process watched moved on, runs left live ended. Returns (moved, ended)."""
    now = now or timezone.now()
    due = Run.objects.filter(status=RunStatus.LIVE, turn_ends_at__lte=now).values_list(
        "meeting_id", flat=True
    )
    moved = sum(run_expire(meeting_id=meeting_id, now=now) for meeting_id in list(due))
    return moved, runs_end_overdue(now=now)
