"""The rotating chair's rule, as pure functions over plain data (no database).

Among active, willing members who have not answered "no" to the meeting: the one who
chaired least recently (never counts as least recent), then the one who chaired fewest
times, then the one who joined first. `rota_plan` walks the upcoming meetings in order,
counting each turn it gives (or that a person fixed: a confirmed chair, a swap, a manager's
choice) before choosing the next, so the projection rotates through everyone.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from django.utils import formats
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


@dataclass(frozen=True)
class Candidate:
    user_id: int
    joined_at: datetime
    last_chaired: datetime | None = None  # start of the last meeting they chaired
    times: int = 0
    willing: bool = True


@dataclass(frozen=True)
class Slot:
    """One upcoming meeting as the rota sees it."""

    meeting_id: int
    starts_at: datetime
    fixed_chair: int | None = None  # confirmed, swapped or chosen by a manager
    fixed_backup: int | None = None
    declined: frozenset[int] = frozenset()  # members who answered "no"


@dataclass(frozen=True)
class Turn:
    meeting_id: int
    chair: int | None
    backup: int | None
    reason: str  # why this chair, in words (for managers)
    fixed: bool


def _order_key(candidate: Candidate):
    never = candidate.last_chaired is None
    return (
        not never,
        candidate.last_chaired or candidate.joined_at,
        candidate.times,
        candidate.joined_at,
        candidate.user_id,
    )


def rota_order(candidates, *, declined=frozenset(), exclude=()) -> list[Candidate]:
    """Eligible candidates, the next chair first."""
    eligible = [
        c
        for c in candidates
        if c.willing and c.user_id not in declined and c.user_id not in exclude
    ]
    return sorted(eligible, key=_order_key)


def rota_reason(candidate: Candidate, *, now: datetime) -> str:
    if candidate.last_chaired is None:
        return _("never chaired; joined %(date)s") % {
            "date": formats.date_format(candidate.joined_at, "SHORT_DATE_FORMAT")
        }
    times = ngettext("%(count)s time in all", "%(count)s times in all", candidate.times) % {
        "count": candidate.times
    }
    if candidate.last_chaired <= now:
        return _("last chaired %(ago)s ago, %(times)s") % {
            "ago": timesince(candidate.last_chaired, now, depth=1),
            "times": times,
        }
    return _("in turn after chairing on %(date)s, %(times)s") % {
        "date": formats.date_format(candidate.last_chaired, "SHORT_DATE_FORMAT"),
        "times": times,
    }


def rota_nobody_reason(candidates, slot: Slot) -> str:
    willing = [c for c in candidates if c.willing]
    if not candidates:
        return _("No chair yet: the community has no active members.")
    if not willing:
        return _("No chair yet: no member is willing to chair.")
    return _("No chair yet: every member willing to chair answered no.")


def rota_plan(candidates: list[Candidate], slots: list[Slot], *, now: datetime) -> list[Turn]:
    """The chair and backup of each slot, in order, with the reason for each chair."""
    state = {c.user_id: c for c in candidates}
    turns = []
    for slot in slots:
        if slot.fixed_chair is not None:
            chair, fixed = slot.fixed_chair, True
            reason = ""
        else:
            order = rota_order(state.values(), declined=slot.declined)
            fixed = False
            if order:
                chair, reason = order[0].user_id, rota_reason(order[0], now=now)
            else:
                chair, reason = None, rota_nobody_reason(list(state.values()), slot)
        if slot.fixed_backup is not None and slot.fixed_backup != chair:
            backup = slot.fixed_backup
        else:
            rest = rota_order(state.values(), declined=slot.declined, exclude={chair})
            backup = rest[0].user_id if rest else None
        if chair in state:
            current = state[chair]
            state[chair] = replace(current, last_chaired=slot.starts_at, times=current.times + 1)
        turns.append(Turn(slot.meeting_id, chair, backup, reason, fixed))
    return turns


__all__ = ["Candidate", "Slot", "Turn", "rota_order", "rota_plan", "rota_reason"]
