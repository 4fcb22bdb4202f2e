"""meetings.rota: the chair's rule as pure functions (no database).

Among willing members who have not answered no: the one who chaired least recently (never
counts as least recent), then the one who chaired fewest times, then the one who joined
first; every choice with its reason in words."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from meetings.rota import (
    Candidate,
    Slot,
    reason_words,
    rota_nobody_reason,
    rota_order,
    rota_plan,
    rota_reason,
    rota_why,
)

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _joined(days_ago: int) -> datetime:
    return NOW - days_ago * DAY


def _slots(count: int, fields: dict | None = None) -> list[Slot]:
    """`count` slots 28 days apart from 13 January (meeting ids 100, 101, ...); fields[i]
    sets slot i's other fields."""
    first = NOW + 8 * DAY
    return [
        Slot(meeting_id=100 + i, starts_at=first + 28 * i * DAY, **(fields or {}).get(i, {}))
        for i in range(count)
    ]


def _on(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def _ids(candidates) -> list[int]:
    return [c.user_id for c in candidates]


# rota_order: the tie-breaks -------------------------------------------------------------


def test_never_chaired_goes_before_anyone_who_chaired():
    veteran = Candidate(1, joined_at=_joined(900), last_chaired=NOW - 900 * DAY, times=1)
    newcomer = Candidate(2, joined_at=_joined(3))

    assert _ids(rota_order([veteran, newcomer])) == [2, 1]


def test_least_recently_chaired_first():
    recent = Candidate(1, joined_at=_joined(900), last_chaired=NOW - 30 * DAY, times=1)
    longer_ago = Candidate(2, joined_at=_joined(100), last_chaired=NOW - 60 * DAY, times=5)

    assert _ids(rota_order([recent, longer_ago])) == [2, 1]


def test_same_last_chaired_then_fewest_times():
    last = NOW - 30 * DAY
    often = Candidate(1, joined_at=_joined(900), last_chaired=last, times=4)
    seldom = Candidate(2, joined_at=_joined(100), last_chaired=last, times=2)

    assert _ids(rota_order([often, seldom])) == [2, 1]


def test_same_last_and_times_then_joined_first():
    last = NOW - 30 * DAY
    later = Candidate(1, joined_at=_joined(100), last_chaired=last, times=2)
    earlier = Candidate(2, joined_at=_joined(200), last_chaired=last, times=2)

    assert _ids(rota_order([later, earlier])) == [2, 1]


def test_never_chaired_among_themselves_joined_first():
    third = Candidate(3, joined_at=_joined(10))
    first = Candidate(7, joined_at=_joined(30))
    second = Candidate(5, joined_at=_joined(20))

    assert _ids(rota_order([third, first, second])) == [7, 5, 3]


def test_order_leaves_out_unwilling_declined_and_excluded():
    candidates = [
        Candidate(1, joined_at=_joined(50)),
        Candidate(2, joined_at=_joined(40), willing=False),
        Candidate(3, joined_at=_joined(30)),
        Candidate(4, joined_at=_joined(20)),
    ]

    assert _ids(rota_order(candidates)) == [1, 3, 4]
    assert _ids(rota_order(candidates, declined={3})) == [1, 4]
    assert _ids(rota_order(candidates, exclude={1})) == [3, 4]
    assert rota_order(candidates, declined={1, 3}, exclude={4}) == []


# Reasons in words ----------------------------------------------------------------------


def test_reason_never_chaired_names_when_they_joined():
    candidate = Candidate(1, joined_at=datetime(2025, 3, 14, 15, tzinfo=UTC))

    assert rota_reason(candidate, now=NOW) == "never chaired; joined March 14, 2025"


def test_reason_last_chaired_says_how_long_ago_and_how_often():
    candidate = Candidate(
        1, joined_at=_joined(900), last_chaired=datetime(2025, 6, 2, tzinfo=UTC), times=2
    )

    assert rota_reason(candidate, now=NOW) == "last chaired 7\xa0months ago, 2 times in all"


def test_reason_once_is_singular():
    candidate = Candidate(1, joined_at=_joined(900), last_chaired=NOW - 35 * DAY, times=1)

    assert rota_reason(candidate, now=NOW) == "last chaired 1\xa0month ago, 1 time in all"


def test_reason_for_a_turn_after_a_projected_one():
    candidate = Candidate(
        1, joined_at=_joined(900), last_chaired=datetime(2026, 2, 10, 20, tzinfo=UTC), times=3
    )

    expected = "in turn after chairing on Feb. 10, 2026, 3 times in all"
    assert rota_reason(candidate, now=NOW) == expected


def test_nobody_reasons():
    slot = _slots(1)[0]
    unwilling = Candidate(1, joined_at=_joined(10), willing=False)
    willing = Candidate(2, joined_at=_joined(10))

    assert rota_nobody_reason([], slot) == "No chair yet: the community has no active members."
    assert rota_nobody_reason([unwilling], slot) == "No chair yet: no member is willing to chair."
    assert (
        rota_nobody_reason([unwilling, willing], Slot(1, NOW, declined=frozenset({2})))
        == "No chair yet: every member willing to chair answered no."
    )


# rota_plan ------------------------------------------------------------------------------


def test_plan_rotates_through_everyone_before_anyone_again():
    candidates = [Candidate(i, joined_at=_joined(100 - i)) for i in range(1, 5)]

    turns = rota_plan(candidates, _slots(8), now=NOW)

    assert [t.chair for t in turns] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert [t.backup for t in turns] == [2, 3, 4, 1, 2, 3, 4, 1]
    assert [t.meeting_id for t in turns] == list(range(100, 108))
    assert not any(t.fixed for t in turns)


def test_plan_starts_with_who_waited_longest():
    candidates = [
        Candidate(1, joined_at=_joined(900), last_chaired=_on(2025, 12, 1), times=3),
        Candidate(2, joined_at=_joined(800), last_chaired=_on(2025, 10, 1), times=2),
        Candidate(3, joined_at=_joined(5)),  # a newcomer
        Candidate(4, joined_at=_joined(700), last_chaired=_on(2025, 11, 1), times=2),
    ]

    turns = rota_plan(candidates, _slots(5), now=NOW)

    assert [t.chair for t in turns] == [3, 2, 4, 1, 3]
    assert turns[0].reason == "never chaired; joined Dec. 31, 2025"
    assert turns[1].reason == "last chaired 3\xa0months ago, 2 times in all"
    assert turns[2].reason == "last chaired 2\xa0months ago, 2 times in all"
    assert turns[3].reason == "last chaired 1\xa0month ago, 3 times in all"
    assert turns[4].reason.startswith("in turn after chairing on Jan. 13, 2026, 1 time in all")


def test_plan_counts_a_fixed_chair_as_their_turn():
    candidates = [Candidate(i, joined_at=_joined(100 - i)) for i in range(1, 4)]

    turns = rota_plan(candidates, _slots(4, {0: {"fixed_chair": 3}}), now=NOW)

    assert [t.chair for t in turns] == [3, 1, 2, 3]
    assert [t.fixed for t in turns] == [True, False, False, False]
    assert turns[0].reason == ""  # a fixed turn keeps the reason stored with the meeting


def test_plan_keeps_a_fixed_backup_unless_it_is_the_chair():
    candidates = [Candidate(i, joined_at=_joined(100 - i)) for i in range(1, 4)]
    slots = _slots(
        2,
        {0: {"fixed_chair": 1, "fixed_backup": 3}, 1: {"fixed_chair": 2, "fixed_backup": 2}},
    )

    turns = rota_plan(candidates, slots, now=NOW)

    assert [(t.chair, t.backup) for t in turns] == [(1, 3), (2, 3)]


def test_plan_skips_who_answered_no_for_that_meeting_only():
    candidates = [Candidate(i, joined_at=_joined(100 - i)) for i in range(1, 4)]

    turns = rota_plan(candidates, _slots(4, {0: {"declined": frozenset({1})}}), now=NOW)

    # 1 said no to the first meeting: 2 chairs it, 1 chairs the next, then 3, then 2.
    assert [t.chair for t in turns] == [2, 1, 3, 2]
    assert turns[0].backup == 3  # the backup is not someone who said no


def test_plan_with_one_willing_member_gives_them_every_turn_and_no_backup():
    candidates = [
        Candidate(1, joined_at=_joined(50), willing=False),
        Candidate(2, joined_at=_joined(40)),
    ]

    turns = rota_plan(candidates, _slots(3), now=NOW)

    assert [(t.chair, t.backup) for t in turns] == [(2, None)] * 3
    assert turns[0].reason == "never chaired; joined Nov. 26, 2025"
    assert turns[1].reason == "in turn after chairing on Jan. 13, 2026, 1 time in all"


def test_plan_with_nobody_willing_has_no_chair_and_says_why():
    candidates = [Candidate(1, joined_at=_joined(50), willing=False)]

    turns = rota_plan(candidates, _slots(2), now=NOW)

    assert [(t.meeting_id, t.chair, t.backup, t.reason, t.fixed) for t in turns] == [
        (100, None, None, "No chair yet: no member is willing to chair.", False),
        (101, None, None, "No chair yet: no member is willing to chair.", False),
    ]


def test_plan_when_every_willing_member_said_no():
    candidates = [Candidate(1, joined_at=_joined(50))]

    turns = rota_plan(candidates, _slots(2, {0: {"declined": frozenset({1})}}), now=NOW)

    assert (turns[0].chair, turns[0].reason) == (
        None,
        "No chair yet: every member willing to chair answered no.",
    )
    assert turns[1].chair == 1


def test_plan_with_no_members():
    turns = rota_plan([], _slots(1), now=NOW)

    assert turns[0].chair is None
    assert turns[0].reason == "No chair yet: the community has no active members."


def test_plan_a_fixed_chair_who_is_not_a_candidate_changes_nobodys_turn():
    candidates = [Candidate(1, joined_at=_joined(50)), Candidate(2, joined_at=_joined(40))]

    turns = rota_plan(candidates, _slots(3, {0: {"fixed_chair": 99}}), now=NOW)

    assert [t.chair for t in turns] == [99, 1, 2]
    assert turns[0].backup == 1


def test_plan_does_not_change_the_candidates_given():
    candidates = [Candidate(1, joined_at=_joined(50))]

    rota_plan(candidates, _slots(3), now=NOW)

    assert candidates == [Candidate(1, joined_at=_joined(50))]


# The promise: nobody twice before everyone once ----------------------------------------


@st.composite
def _members(draw):
    count = draw(st.integers(min_value=1, max_value=8))
    members = []
    for user_id in range(1, count + 1):
        chaired = draw(st.booleans())
        members.append(
            Candidate(
                user_id,
                joined_at=_joined(draw(st.integers(min_value=400, max_value=2000))),
                last_chaired=(
                    NOW - draw(st.integers(min_value=1, max_value=399)) * DAY if chaired else None
                ),
                times=draw(st.integers(min_value=1, max_value=12)) if chaired else 0,
                willing=draw(st.booleans()),
            )
        )
    return members


@given(_members())
def test_plan_nobody_willing_chairs_twice_before_every_willing_member_once(members):
    willing = {c.user_id for c in members if c.willing}

    chairs = [t.chair for t in rota_plan(members, _slots(24), now=NOW)]

    if not willing:
        assert chairs == [None] * 24
        return
    n = len(willing)
    for start in range(0, 24 - n + 1):
        assert set(chairs[start : start + n]) == willing, chairs


def test_a_stored_reason_is_said_in_the_readers_language_and_zone():
    from django.utils import timezone, translation

    why = rota_why(Candidate(1, joined_at=datetime(2025, 3, 14, 2, tzinfo=UTC)), now=NOW)

    with translation.override("fr"), timezone.override("America/Vancouver"):
        french = reason_words(why)
    with translation.override("en"), timezone.override("UTC"):
        english = reason_words(why)

    assert french == "n’a jamais présidé; membre depuis le 13 mars 2025"  # noqa: RUF001
    assert english == "never chaired; joined March 14, 2025"
