"""The live run through its services, on the database: each move raises the version by
one and is logged; refusals change nothing; the timer advances a turn exactly once, also
when it races another process's timer and the chair's "next" (PostgreSQL, threads)."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from agendas import selectors, services
from agendas.enums import ItemKind, RunStatus
from agendas.models import Agenda, AgendaItem, Run, RunLogEntry, Turn
from live.clock import iso_utc
from meetings import services as meeting_services
from tests.factories import UserFactory
from tests.meetings.helpers import community_with

pytestmark = pytest.mark.django_db

STANDING = [
    (ItemKind.INTRODUCTIONS, "New members", 5, False),
    (ItemKind.ROUNDTABLE, "Roundtable", 2, True),
    (ItemKind.FOCUS, "Focus", 15, False),
]


def _world(members=3):
    """A meeting an hour from now with its chair, backup and a three-item agenda."""
    now = timezone.now()
    community, manager, users = community_with(members, joined=now - timedelta(days=400))
    start = timezone.localtime(now + timedelta(hours=1), timezone.get_fixed_timezone(0))
    meeting = meeting_services.meeting_create(
        actor=manager,
        community=community,
        title="Monthly call",
        day=start.date(),
        start_time=start.time().replace(microsecond=0),
        timezone_name="UTC",
    )
    meeting.chair, meeting.backup = users[0], users[1]
    meeting.chair_confirmed_at = now
    meeting.save()
    agenda = Agenda.objects.create(meeting=meeting)
    items = [
        AgendaItem.objects.create(
            agenda=agenda, kind=kind, title=title, minutes=minutes, per_member=per, position=i
        )
        for i, (kind, title, minutes, per) in enumerate(STANDING)
    ]
    return meeting, manager, users, items


def _snapshot(meeting):
    run = Run.objects.filter(meeting=meeting).values().first()
    return (
        run,
        list(RunLogEntry.objects.order_by("pk").values()),
        list(Turn.objects.order_by("pk").values()),
        list(AgendaItem.objects.order_by("pk").values()),
    )


def _roundtable(meeting, chair, users, now):
    services.run_presence_set(meeting_id=meeting.pk, present=[u.pk for u in users], now=now)
    services.run_command(actor=chair, meeting=meeting, command="meeting.start", now=now)
    services.run_command(actor=chair, meeting=meeting, command="agenda.next", now=now)
    return services.run_command(
        actor=chair,
        meeting=meeting,
        command="roundtable.start",
        args={"order": "alphabetical"},
        now=now,
    )


def test_each_move_raises_the_version_by_one_and_is_logged():
    meeting, _manager, users, items = _world()
    chair, now = users[0], timezone.now()

    run = _roundtable(meeting, chair, users, now)

    assert run.version == 4
    log = list(RunLogEntry.objects.filter(run=run).values_list("version", "command"))
    assert log == [
        (1, "presence"),
        (2, "meeting.start"),
        (3, "agenda.next"),
        (4, "roundtable.start"),
    ]
    assert run.status == RunStatus.LIVE and run.current_item_id == items[1].pk
    first, second = AgendaItem.objects.filter(pk__in=[items[0].pk, items[1].pk]).order_by("pk")
    assert first.started_at == now and first.ended_at == now
    assert second.started_at == now and second.ended_at is None
    assert run.speaker_id == users[0].pk  # "Member A" first alphabetically
    assert Turn.objects.get(run=run, user=users[0]).started_at == now


def test_the_state_frame_has_what_every_client_draws():
    meeting, _manager, users, items = _world()
    now = timezone.now()
    _roundtable(meeting, users[0], users, now)

    frame = selectors.run_state(meeting_id=meeting.pk, now=now)

    assert frame["type"] == "meeting.state" and frame["version"] == 4
    assert frame["status"] == "live" and frame["current_item"] == items[1].pk
    assert [i["id"] for i in frame["items"]] == [i.pk for i in items]
    assert frame["items"][0]["planned_start"] == iso_utc(meeting.starts_at)
    roundtable = frame["roundtable"]
    assert roundtable["current_speaker"] == {"id": users[0].pk, "name": "Member A"}
    assert roundtable["turn_ends_at"] == iso_utc(now + timedelta(seconds=60))
    assert [p["name"] for p in roundtable["queue"]] == ["Member B", "Member C"]
    assert frame["server_time"] == iso_utc(now)
    assert frame["chair"]["id"] == users[0].pk and frame["backup"]["id"] == users[1].pk
    assert sorted(p["id"] for p in frame["present"]) == sorted(u.pk for u in users)


def test_the_state_shows_speaking_time_longest_first_and_the_handover():
    meeting, _manager, users, _items = _world()
    now = timezone.now()
    _roundtable(meeting, users[0], users, now)
    assert selectors.run_state(meeting_id=meeting.pk, now=now)["roundtable"]["spoken"] == []

    for command, at in [("turn.next", 20), ("turn.pass", 23), ("turn.next", 95)]:
        services.run_command(
            actor=users[0], meeting=meeting, command=command, now=now + timedelta(seconds=at)
        )
    frame = selectors.run_state(meeting_id=meeting.pk, now=now + timedelta(seconds=95))

    # Member A spoke 20 s, B passed after 3 s, C spoke 72 s (one extension would show too).
    assert frame["roundtable"]["current_speaker"] is None
    assert frame["roundtable"]["spoken"] == [
        {"id": users[2].pk, "name": "Member C", "seconds": 72},
        {"id": users[0].pk, "name": "Member A", "seconds": 20},
        {"id": users[1].pk, "name": "Member B", "seconds": 3},
    ]
    assert frame["handed_over"] is False
    services.run_command(actor=users[0], meeting=meeting, command="chair.handover")
    assert selectors.run_state(meeting_id=meeting.pk)["handed_over"] is True


def test_a_member_who_is_not_chair_is_refused_and_nothing_changes():
    meeting, _manager, users, _items = _world()
    before = _snapshot(meeting)

    with pytest.raises(services.RunError) as refused:
        services.run_command(actor=users[2], meeting=meeting, command="meeting.start")

    assert refused.value.code == "forbidden"
    assert _snapshot(meeting)[1:] == before[1:]
    assert Run.objects.get(meeting=meeting).version == 0


def test_a_stranger_and_the_backup_before_handover_are_refused():
    meeting, _manager, users, _items = _world()
    for actor in (UserFactory(), users[1]):
        with pytest.raises(services.RunError) as refused:
            services.run_command(actor=actor, meeting=meeting, command="meeting.start")
        assert refused.value.code == "forbidden"


def test_a_manager_may_and_the_backup_may_once_the_chair_handed_over():
    meeting, manager, users, _items = _world()
    services.run_command(actor=manager, meeting=meeting, command="meeting.start")
    services.run_command(actor=users[0], meeting=meeting, command="chair.handover")
    run = services.run_command(actor=users[1], meeting=meeting, command="agenda.next")
    assert run.version == 3


def test_the_backup_may_once_the_chair_has_been_away_thirty_seconds():
    meeting, manager, users, _items = _world()
    now = timezone.now()
    services.run_command(actor=manager, meeting=meeting, command="meeting.start", now=now)
    services.run_presence_set(meeting_id=meeting.pk, present=[users[1].pk], now=now)
    with pytest.raises(services.RunError):
        services.run_command(
            actor=users[1],
            meeting=meeting,
            command="agenda.next",
            now=now + timedelta(seconds=29),
        )
    run = services.run_command(
        actor=users[1], meeting=meeting, command="agenda.next", now=now + timedelta(seconds=30)
    )
    assert run.current_item_id is not None and run.version == 3


@pytest.mark.parametrize(
    ("command", "args", "code"),
    [
        ("agenda.next", {}, "not_started"),
        ("meeting.dance", {}, "unknown_type"),
    ],
)
def test_bad_commands_get_a_code_and_change_nothing(command, args, code):
    meeting, _manager, users, _items = _world()
    before = _snapshot(meeting)
    with pytest.raises(services.RunError) as refused:
        services.run_command(actor=users[0], meeting=meeting, command=command, args=args)
    assert refused.value.code == code
    assert _snapshot(meeting)[1:] == before[1:]


def test_bad_commands_on_a_live_run_change_nothing():
    meeting, _manager, users, _items = _world()
    now = timezone.now()
    _roundtable(meeting, users[0], users, now)
    before = _snapshot(meeting)
    for command, args, code in [
        ("agenda.goto", {"item": 10**9}, "bad_item"),
        ("turn.extend", {}, None),
        ("turn.extend", {}, None),
        ("turn.extend", {}, "extend_limit"),
    ]:
        if code is None:
            services.run_command(
                actor=users[0], meeting=meeting, command=command, args=args, now=now
            )
            before = _snapshot(meeting)
            continue
        with pytest.raises(services.RunError) as refused:
            services.run_command(
                actor=users[0], meeting=meeting, command=command, args=args, now=now
            )
        assert refused.value.code == code
        assert _snapshot(meeting) == before


def test_an_ended_meeting_cannot_start_again():
    meeting, _manager, users, _items = _world()
    services.run_command(actor=users[0], meeting=meeting, command="meeting.start")
    services.run_command(actor=users[0], meeting=meeting, command="meeting.end")
    with pytest.raises(services.RunError) as refused:
        services.run_command(actor=users[0], meeting=meeting, command="meeting.start")
    assert refused.value.code == "ended"


def test_the_timer_advances_once_and_only_when_due():
    meeting, _manager, users, _items = _world()
    now = timezone.now()
    run = _roundtable(meeting, users[0], users, now)
    due = run.turn_ends_at

    assert not services.run_expire(meeting_id=meeting.pk, now=due - timedelta(seconds=1))
    assert services.run_expire(meeting_id=meeting.pk, now=due)
    assert not services.run_expire(meeting_id=meeting.pk, now=due)

    run.refresh_from_db()
    assert run.speaker_id == users[1].pk and run.done == [users[0].pk]
    assert run.version == 5
    turn = Turn.objects.get(run=run, user=users[0])
    assert turn.ended_at == due and not turn.passed


def test_the_warning_goes_once_per_deadline_and_again_after_an_extension():
    meeting, _manager, users, _items = _world()
    now = timezone.now()
    run = _roundtable(meeting, users[0], users, now)
    warn_at = run.turn_ends_at - timedelta(seconds=9)

    assert not services.run_warn(meeting_id=meeting.pk, now=now)
    assert services.run_warn(meeting_id=meeting.pk, now=warn_at)
    assert not services.run_warn(meeting_id=meeting.pk, now=warn_at)
    assert Run.objects.get(pk=run.pk).version == run.version  # not a change of state

    services.run_command(actor=users[0], meeting=meeting, command="turn.extend", now=warn_at)
    assert not services.run_warn(meeting_id=meeting.pk, now=warn_at)
    assert services.run_warn(meeting_id=meeting.pk, now=warn_at + timedelta(seconds=30))


def test_presence_that_does_not_change_is_not_a_move():
    meeting, _manager, users, _items = _world()
    assert services.run_presence_set(meeting_id=meeting.pk, present=[users[0].pk])
    assert not services.run_presence_set(meeting_id=meeting.pk, present=[users[0].pk])
    assert Run.objects.get(meeting=meeting).version == 1


def test_a_run_left_live_ends_by_itself_two_hours_after_its_planned_end():
    meeting, _manager, users, items = _world()
    services.run_command(actor=users[0], meeting=meeting, command="meeting.start")

    assert services.runs_end_overdue(now=meeting.ends_at + timedelta(minutes=119)) == 0
    assert services.runs_end_overdue(now=meeting.ends_at + timedelta(hours=2)) == 1
    assert services.runs_end_overdue(now=meeting.ends_at + timedelta(hours=3)) == 0
    run = Run.objects.get(meeting=meeting)
    assert run.status == RunStatus.ENDED
    assert AgendaItem.objects.get(pk=items[0].pk).ended_at == meeting.ends_at + timedelta(hours=2)


@pytest.mark.postgres
def test_timer_twice_and_the_chairs_next_at_the_expiry_instant_advance_exactly_once(
    transactional_db,
):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers are tested on PostgreSQL (DATABASE_URL=postgres://...)")
    meeting, _manager, users, _items = _world(members=12)
    chair = users[0]
    now = timezone.now()
    run = _roundtable(meeting, chair, users, now)

    for _round in range(10):
        run.refresh_from_db()
        speaker, deadline, version = run.speaker_id, run.turn_ends_at, run.version
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def worker(action, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                action()
            except BaseException as error:
                errors.append(error)
            finally:
                close_old_connections()
                connection.close()

        actions = [
            lambda at=deadline: services.run_expire(meeting_id=meeting.pk, now=at),
            lambda at=deadline: services.run_expire(meeting_id=meeting.pk, now=at),
            lambda at=deadline: services.run_command(
                actor=chair, meeting=meeting, command="turn.next", now=at
            ),
        ]
        threads = [threading.Thread(target=worker, args=(a,)) for a in actions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []

        run.refresh_from_db()
        assert run.version == version + 1, "exactly one of the three moved"
        assert run.done[-1] == speaker and run.done.count(speaker) == 1
        assert run.speaker_id != speaker

    versions = list(RunLogEntry.objects.filter(run=run).values_list("version", flat=True))
    assert versions == list(range(1, run.version + 1))


def test_the_periodic_work_moves_turns_nobody_watched_and_ends_forgotten_runs():
    meeting, _manager, users, _items = _world()
    now = timezone.now()
    run = _roundtable(meeting, users[0], users, now)

    assert services.runs_maintain(now=run.turn_ends_at - timedelta(seconds=1)) == (0, 0)
    assert services.runs_maintain(now=run.turn_ends_at) == (1, 0)
    assert services.runs_maintain(now=meeting.ends_at + timedelta(hours=2)) == (1, 1)
    assert Run.objects.get(pk=run.pk).status == RunStatus.ENDED


def test_the_command_runs_the_periodic_work():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("agendas_maintain", stdout=out)
    assert out.getvalue().strip() == "0 turns moved on; 0 meetings ended."


def test_the_side_chat_gets_the_servers_markers_once_per_move():
    from rooms.enums import MessageKind
    from rooms.models import Message

    meeting, _manager, users, _items = _world()
    now = timezone.now()
    _roundtable(meeting, users[0], users, now)
    services.run_command(actor=users[0], meeting=meeting, command="meeting.end", now=now)

    said = list(
        Message.objects.filter(room=meeting.room).order_by("seq").values_list("kind", "body")
    )
    assert said == [
        (MessageKind.SYSTEM, "The meeting started."),
        (MessageKind.SYSTEM, "Now: New members"),
        (MessageKind.SYSTEM, "Ended: New members"),
        (MessageKind.SYSTEM, "Now: Roundtable"),
        (MessageKind.SYSTEM, "Ended: Roundtable"),
        (MessageKind.SYSTEM, "The meeting ended."),
    ]
    assert not Message.objects.filter(room=meeting.room, author__isnull=False).exists()


def test_the_markers_speak_the_communitys_language():
    from rooms.models import Message

    meeting, _manager, users, _items = _world()
    meeting.community.language = "fr"
    meeting.community.save()
    services.run_command(actor=users[0], meeting=meeting, command="meeting.start")
    first = Message.objects.filter(room=meeting.room).order_by("seq").first()
    assert first.body == "La rencontre a commencé."


def test_attendance_comes_from_who_was_present_while_live():
    from meetings.enums import AttendanceStatus, Response
    from meetings.models import Answer, Attendance

    meeting, manager, users, _items = _world(members=4)
    now = timezone.now()
    Answer.objects.create(meeting=meeting, user=users[3], response=Response.NO)
    services.run_presence_set(meeting_id=meeting.pk, present=[users[0].pk], now=now)
    services.run_command(actor=users[0], meeting=meeting, command="meeting.start", now=now)
    # Someone comes for a while, then leaves before the end: present all the same.
    services.run_presence_set(meeting_id=meeting.pk, present=[users[0].pk, users[1].pk], now=now)
    services.run_presence_set(meeting_id=meeting.pk, present=[users[0].pk], now=now)
    services.run_command(actor=users[0], meeting=meeting, command="meeting.end", now=now)

    recorded = dict(Attendance.objects.filter(meeting=meeting).values_list("user_id", "status"))
    assert recorded[users[0].pk] == AttendanceStatus.PRESENT
    assert recorded[users[1].pk] == AttendanceStatus.PRESENT
    assert recorded[users[2].pk] == AttendanceStatus.ABSENT
    assert recorded[users[3].pk] == AttendanceStatus.REGRETS
    assert recorded[manager.pk] == AttendanceStatus.ABSENT


def test_a_turn_command_for_a_turn_already_over_does_nothing():
    meeting, _manager, users, _items = _world()
    now = timezone.now()
    run = _roundtable(meeting, users[0], users, now)
    first = run.speaker_id
    assert services.run_expire(meeting_id=meeting.pk, now=run.turn_ends_at)
    before = _snapshot(meeting)

    after = services.run_command(
        actor=users[0], meeting=meeting, command="turn.next", args={"speaker": first}
    )

    assert after.speaker_id == users[1].pk and after.done == [first]
    assert _snapshot(meeting) == before


def test_a_move_that_loses_every_race_is_refused_with_conflict_and_changes_nothing(monkeypatch):
    # Losing ten races in a row cannot be staged with real writers; every conditional
    # update is made to find the version moved on.
    meeting, _manager, users, _items = _world()
    services.run_get(meeting=meeting)  # the scheduled run's row, as a first command makes it
    before = _snapshot(meeting)
    tries = []
    monkeypatch.setattr(services, "_write", lambda *a, **k: tries.append(1) or False)

    with pytest.raises(services.RunError) as refused:
        services.run_command(actor=users[0], meeting=meeting, command="meeting.start")

    assert refused.value.code == "conflict"
    assert len(tries) == services.ATTEMPTS
    assert _snapshot(meeting) == before
