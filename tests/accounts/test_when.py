from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import dateformat, timezone, translation

from accounts.templatetags.when import when

JANUARY = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
JULY = datetime(2026, 7, 15, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "zone_name", "expected_zone"),
    [
        (JANUARY, "America/St_Johns", "NST"),
        (JULY, "America/St_Johns", "NDT"),
        (JANUARY, "America/Vancouver", "PST"),
        (JULY, "America/Regina", "CST"),
    ],
)
def test_when_renders_the_active_zone_with_its_name(value, zone_name, expected_zone):
    local = value.astimezone(ZoneInfo(zone_name))

    with translation.override("en"), timezone.override(ZoneInfo(zone_name)):
        html = when(value)

    assert local.tzname() == expected_zone
    assert html == (
        f'<time datetime="{value.isoformat()}">'
        f"{dateformat.format(local, 'N j, Y, P')} {expected_zone}</time>"
    )


def test_when_newfoundland_is_three_and_a_half_hours_behind_utc_in_winter():
    with translation.override("en"), timezone.override(ZoneInfo("America/St_Johns")):
        html = when(JANUARY)

    assert html == (
        '<time datetime="2026-01-15T15:00:00+00:00">Jan. 15, 2026, 11:30 a.m. NST</time>'
    )


def test_when_date_format_shows_the_local_date():
    late = datetime(2026, 1, 16, 2, 0, tzinfo=UTC)

    with translation.override("en"), timezone.override(ZoneInfo("America/Vancouver")):
        html = when(late, "DATE_FORMAT")

    assert html == '<time datetime="2026-01-16T02:00:00+00:00">Jan. 15, 2026 PST</time>'


@pytest.mark.parametrize("value", [None, ""])
def test_when_empty_value_renders_nothing(value):
    assert when(value) == ""
