"""Time zones offered to people and communities.

Canada's zones come first (Newfoundland is UTC-3:30); every other IANA zone follows, so
members elsewhere can choose theirs too.
"""

import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

CANADIAN_ZONES = [
    ("America/St_Johns", _("Newfoundland (St. John's)")),
    ("America/Halifax", _("Atlantic (Halifax)")),
    ("America/Moncton", _("Atlantic (Moncton)")),
    ("America/Toronto", _("Eastern (Toronto, Montréal, Ottawa)")),
    ("America/Winnipeg", _("Central (Winnipeg)")),
    ("America/Regina", _("Central, no daylight saving (Regina)")),
    ("America/Edmonton", _("Mountain (Edmonton, Calgary)")),
    ("America/Whitehorse", _("Yukon (Whitehorse)")),
    ("America/Vancouver", _("Pacific (Vancouver)")),
]


# Places whose name is not their zone's name with spaces for underscores.
PLACE_NAMES = {"America/St_Johns": _("St. John's")}


def zone_place(name: str) -> str:
    """The place a zone is named after, as people write it: "America/Vancouver" →
    "Vancouver", "America/St_Johns" → "St. John's"."""
    if name in PLACE_NAMES:
        return str(PLACE_NAMES[name])
    return (name or "").rsplit("/", 1)[-1].replace("_", " ")


@cache
def valid_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_choices() -> list[tuple[str, str]]:
    canadian = {name for name, _label in CANADIAN_ZONES}
    others = sorted(valid_zone_names() - canadian)
    return [
        (_("Canada"), CANADIAN_ZONES),
        (_("Other time zones"), [(name, name.replace("_", " ")) for name in others]),
    ]


def validate_timezone(value: str) -> None:
    if value not in valid_zone_names():
        raise ValidationError(
            _("“%(value)s” is not a time zone we know. Choose one from the list."),
            code="invalid_timezone",
            params={"value": value},
        )
