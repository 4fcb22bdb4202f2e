"""The rotating chair's rule, as pure functions over plain data (no database).

Among active, willing members who have not answered "no" to the meeting: the one who
chaired least recently (never counts as least recent), then the one who chaired fewest
times, then the one who joined first. `rota_plan` walks the upcoming meetings in order,
counting each turn it gives (or that a person fixed: a confirmed chair, a swap, a manager's
choice) before choosing the next, so the projection rotates through everyone.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from django.utils import formats, timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
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
    why: dict  # why this chair, as data (`reason_words` says it in the reader's language)
    fixed: bool

    @property
    def reason(self) -> str:
        return reason_words(self.why)


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


# Why a member chairs, as data: stored with a meeting and in the log, and said in words
# when shown, in the reader's language and zone. Keys: "rule", then what it needs.


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _date(value: str) -> str:
    return formats.date_format(timezone.localtime(datetime.fromisoformat(value)), "DATE_FORMAT")


def rota_why(candidate: Candidate, *, now: datetime) -> dict:
    if candidate.last_chaired is None:
        return {"rule": "never", "joined": _iso(candidate.joined_at)}
    return {
        "rule": "last",
        "last": _iso(candidate.last_chaired),
        "times": candidate.times,
        "at": _iso(now),
    }


def rota_nobody_why(candidates) -> dict:
    if not candidates:
        return {"rule": "nobody", "why": "no_members"}
    if not any(c.willing for c in candidates):
        return {"rule": "nobody", "why": "none_willing"}
    return {"rule": "nobody", "why": "all_declined"}


NOBODY = {
    "no_members": _lazy("No chair yet: the community has no active members."),
    "none_willing": _lazy("No chair yet: no member is willing to chair."),
    "all_declined": _lazy("No chair yet: every member willing to chair answered no."),
}


def reason_words(why: dict | None) -> str:
    """A reason in words ("never chaired; joined Mar. 14, 2025", "last chaired 7 months
    ago, 2 times in all"), in the active language; dates in the active zone."""
    rule = (why or {}).get("rule")
    if rule == "never":
        return _("never chaired; joined %(date)s") % {"date": _date(why["joined"])}
    if rule == "last":
        times = ngettext("%(count)s time in all", "%(count)s times in all", why["times"]) % {
            "count": why["times"]
        }
        last, at = datetime.fromisoformat(why["last"]), datetime.fromisoformat(why["at"])
        if last <= at:
            return _("last chaired %(ago)s ago, %(times)s") % {
                "ago": timesince(last, at, depth=1),
                "times": times,
            }
        return _("in turn after chairing on %(date)s, %(times)s") % {
            "date": _date(why["last"]),
            "times": times,
        }
    if rule == "nobody":
        return str(NOBODY[why["why"]])
    if rule == "override":
        return _("chosen by %(name)s") % {"name": why["by"]}
    if rule == "swap":
        return _("swapped between %(a)s and %(b)s") % {"a": why["a"], "b": why["b"]}
    return ""


def rota_reason(candidate: Candidate, *, now: datetime) -> str:
    return reason_words(rota_why(candidate, now=now))


def rota_nobody_reason(candidates, slot: Slot | None = None) -> str:
    return reason_words(rota_nobody_why(list(candidates)))


def rota_plan(candidates: list[Candidate], slots: list[Slot], *, now: datetime) -> list[Turn]:
    """The chair and backup of each slot, in order, with the reason for each chair."""
    state = {c.user_id: c for c in candidates}
    turns = []
    for slot in slots:
        if slot.fixed_chair is not None:
            chair, fixed = slot.fixed_chair, True
            why = {}
        else:
            order = rota_order(state.values(), declined=slot.declined)
            fixed = False
            if order:
                chair, why = order[0].user_id, rota_why(order[0], now=now)
            else:
                chair, why = None, rota_nobody_why(list(state.values()))
        if slot.fixed_backup is not None and slot.fixed_backup != chair:
            backup = slot.fixed_backup
        else:
            rest = rota_order(state.values(), declined=slot.declined, exclude={chair})
            backup = rest[0].user_id if rest else None
        if chair in state:
            current = state[chair]
            state[chair] = replace(current, last_chaired=slot.starts_at, times=current.times + 1)
        turns.append(Turn(slot.meeting_id, chair, backup, why, fixed))
    return turns


__all__ = [
    "Candidate",
    "Slot",
    "Turn",
    "reason_words",
    "rota_order",
    "rota_plan",
    "rota_reason",
    "rota_why",
]
