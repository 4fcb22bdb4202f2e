"""A series' recurrence: RFC 5545 RRULE text, a local start date and time, an IANA zone.

Pure functions (no database). The rule is expanded with `python-dateutil` on a
`zoneinfo`-aware start, so the wall-clock time stays put across daylight-saving changes
(12:00 stays 12:00); each occurrence is then checked to exist exactly once that day.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from accounts.timezones import valid_zone_names

# The kinds of rule the series form offers, as people say them.
MONTHLY_WEEKDAY = "monthly_weekday"  # monthly on the second Tuesday
MONTHLY_DAY = "monthly_day"  # monthly on the 15th
WEEKLY_KIND = "weekly"  # every N weeks on Tuesday

RULE_KINDS = [
    (MONTHLY_WEEKDAY, gettext_lazy("Monthly, on a weekday (e.g. the second Tuesday)")),
    (MONTHLY_DAY, gettext_lazy("Monthly, on a day of the month (e.g. the 15th)")),
    (WEEKLY_KIND, gettext_lazy("Every N weeks, on a weekday")),
]

WEEKDAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
WEEKDAYS = [
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
]
ORDINALS = {
    1: pgettext_lazy("weekday of the month", "first"),
    2: pgettext_lazy("weekday of the month", "second"),
    3: pgettext_lazy("weekday of the month", "third"),
    4: pgettext_lazy("weekday of the month", "fourth"),
    -1: pgettext_lazy("weekday of the month", "last"),
}

_AT_MOST_DAILY = {"YEARLY", "MONTHLY", "WEEKLY", "DAILY"}


class RecurrenceError(ValueError):
    """A rule, time or zone that cannot make meetings; `message` says why, for people."""

    def __init__(self, message, *, code: str, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.code = code
        self.field = field


@dataclass(frozen=True)
class RuleChoice:
    """What the form asks, turned into RRULE text by `rule_text`."""

    kind: str
    weekday: int = 1  # 0 = Monday
    ordinal: int = 2  # 1..4, or -1 for the last
    monthday: int = 15
    interval: int = 1


def zone_get(name: str) -> ZoneInfo:
    try:
        # Only the zones the models accept: ZoneInfo("America") opens a directory and
        # raises IsADirectoryError, which would escape as a crash, not a message.
        if name not in valid_zone_names():
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RecurrenceError(
            _("“%(zone)s” is not a time zone we know, e.g. America/Toronto.") % {"zone": name},
            code="unknown_zone",
            field="timezone",
        ) from None


def rule_text(choice: RuleChoice) -> str:
    if choice.kind == MONTHLY_WEEKDAY:
        return f"FREQ=MONTHLY;BYDAY={choice.ordinal}{WEEKDAY_CODES[choice.weekday]}"
    if choice.kind == MONTHLY_DAY:
        return f"FREQ=MONTHLY;BYMONTHDAY={choice.monthday}"
    if choice.kind == WEEKLY_KIND:
        interval = f";INTERVAL={choice.interval}" if choice.interval != 1 else ""
        return f"FREQ=WEEKLY{interval};BYDAY={WEEKDAY_CODES[choice.weekday]}"
    raise RecurrenceError(_("Choose how the meetings repeat."), code="unknown_kind", field="kind")


def _parts(text: str) -> dict[str, str]:
    parts = {}
    for part in text.upper().removeprefix("RRULE:").split(";"):
        key, _sep, value = part.partition("=")
        parts[key.strip()] = value.strip()
    return parts


def rule_choice(text: str) -> RuleChoice | None:
    """The form's choice for a rule it can make, else None (a rule typed in the admin)."""
    parts = _parts(text)
    freq, byday = parts.get("FREQ"), parts.get("BYDAY", "")
    interval = int(parts.get("INTERVAL", "1") or 1)
    if set(parts) - {"FREQ", "BYDAY", "BYMONTHDAY", "INTERVAL"}:
        return None
    if freq == "MONTHLY" and interval == 1 and byday and "," not in byday:
        code, number = byday[-2:], byday[:-2]
        if code in WEEKDAY_CODES and number in ("1", "2", "3", "4", "-1", "+1", "+2", "+3", "+4"):
            return RuleChoice(
                MONTHLY_WEEKDAY, weekday=WEEKDAY_CODES.index(code), ordinal=int(number)
            )
    if freq == "MONTHLY" and interval == 1 and "BYMONTHDAY" in parts and not byday:
        day = parts["BYMONTHDAY"]
        if day.isdecimal() and 1 <= int(day) <= 31:
            return RuleChoice(MONTHLY_DAY, monthday=int(day))
    if freq == "WEEKLY" and byday in WEEKDAY_CODES and "BYMONTHDAY" not in parts:
        return RuleChoice(WEEKLY_KIND, weekday=WEEKDAY_CODES.index(byday), interval=interval)
    return None


def rule_describe(text: str) -> str:
    """The rule in words, in the active language ("monthly on the second Tuesday")."""
    choice = rule_choice(text)
    if choice is None:
        return text
    if choice.kind == MONTHLY_WEEKDAY:
        return _("monthly on the %(ordinal)s %(weekday)s") % {
            "ordinal": ORDINALS[choice.ordinal],
            "weekday": WEEKDAYS[choice.weekday],
        }
    if choice.kind == MONTHLY_DAY:
        return _("monthly on day %(day)s") % {"day": choice.monthday}
    return ngettext(
        "weekly on %(weekday)s", "every %(count)s weeks on %(weekday)s", choice.interval
    ) % {"count": choice.interval, "weekday": WEEKDAYS[choice.weekday]}


def local_start(day: date, at: time, zone: str) -> datetime:
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone_get(zone))


def local_time_problem(moment: datetime) -> str | None:
    """ "missing" when the wall-clock time does not exist that day (clocks go forward),
    "repeated" when it happens twice (clocks go back), else None."""
    wall = moment.replace(tzinfo=None)
    round_trip = moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None)
    if round_trip != wall:
        return "missing"
    if moment.replace(fold=0).utcoffset() != moment.replace(fold=1).utcoffset():
        return "repeated"
    return None


def local_time_error(moment: datetime) -> RecurrenceError | None:
    problem = local_time_problem(moment)
    if problem is None:
        return None
    values = {
        "time": formats.time_format(moment, "TIME_FORMAT"),
        "date": formats.date_format(moment, "DATE_FORMAT"),
        "zone": moment.tzinfo.key,
    }
    if problem == "missing":
        message = _(
            "%(time)s does not exist on %(date)s in %(zone)s: the clocks go forward that "
            "night. Choose another time."
        )
    else:
        message = _(
            "%(time)s happens twice on %(date)s in %(zone)s: the clocks go back that night. "
            "Choose another time."
        )
    return RecurrenceError(message % values, code=f"time_{problem}", field="start_time")


def _rule(text: str, start: datetime) -> rrule:
    try:
        rule = rrulestr(text.removeprefix("RRULE:"), dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError):
        raise RecurrenceError(
            _("This recurrence rule cannot be read."), code="bad_rule", field="rrule"
        ) from None
    if not isinstance(rule, rrule) or _parts(text).get("FREQ") not in _AT_MOST_DAILY:
        raise RecurrenceError(
            _("This rule gives more than one meeting a day."), code="more_than_daily", field="rrule"
        )
    return rule


def occurrences_iter(
    *, rule: str, first_date: date, start_time: time, zone: str, after: datetime
) -> Iterator[datetime]:
    """Every local start the rule gives at or after `after` (aware, in the series' zone)."""
    start = local_start(first_date, start_time, zone)
    expanded = _rule(rule, start)
    # xafter compares in UTC: aware datetimes in one zone compare by their instants.
    return expanded.xafter(max(after, start - timedelta(seconds=1)), inc=True)


def occurrences(
    *,
    rule: str,
    first_date: date,
    start_time: time,
    zone: str,
    after: datetime,
    before: datetime,
) -> list[datetime]:
    """The rule's local starts in [after, before), each checked: at most one a day, every
    one existing exactly once on its day. Raises RecurrenceError."""
    found: list[datetime] = []
    for moment in occurrences_iter(
        rule=rule, first_date=first_date, start_time=start_time, zone=zone, after=after
    ):
        if moment >= before:
            break
        if found and found[-1].date() == moment.date():  # sorted: a second one is next
            raise RecurrenceError(
                _("This rule gives more than one meeting a day."),
                code="more_than_daily",
                field="rrule",
            )
        error = local_time_error(moment)
        if error is not None:
            raise error
        found.append(moment)
    return found


def horizon_end(now: datetime, months: int) -> datetime:
    return now + relativedelta(months=months)


def occurrences_within(
    *, rule: str, first_date: date, start_time: time, zone: str, now: datetime, months: int
) -> list[datetime]:
    """`occurrences` from now to the horizon; at least one, or RecurrenceError."""
    found = occurrences(
        rule=rule,
        first_date=first_date,
        start_time=start_time,
        zone=zone,
        after=now,
        before=horizon_end(now, months),
    )
    if not found:
        raise RecurrenceError(
            _("This rule gives no meeting in the next %(months)s months.") % {"months": months},
            code="no_dates",
            field="rrule",
        )
    return found
