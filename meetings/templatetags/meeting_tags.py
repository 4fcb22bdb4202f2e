"""Meeting times for people: in the viewer's zone, and in the meeting's when they differ;
the handover page's sections from the apps above."""

from zoneinfo import ZoneInfo

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from accounts.templatetags.when import when
from accounts.timezones import zone_place
from meetings import recurrence

register = template.Library()


# The place a zone is named after: "America/St_Johns" → "St. John's".
register.filter("zone_place", zone_place)


@register.filter
def in_zone(value, zone_name: str):
    """`when`, in `zone_name` instead of the viewer's zone."""
    if not value:
        return ""
    with timezone.override(ZoneInfo(zone_name)):
        return when(value)


@register.simple_tag
def starts_in_zones(value, zone_name: str):
    """A start in the viewer's zone; when the meeting's zone shows another time, both:
    "Feb. 10, 2026, noon in Toronto — 1:30 p.m. your time"."""
    if not value:
        return ""
    theirs = timezone.localtime(value, ZoneInfo(zone_name))
    yours = timezone.localtime(value)
    if theirs.utcoffset() == yours.utcoffset():
        return when(value)
    text = _("%(time)s in %(place)s — %(yours)s your time") % {
        "time": formats.date_format(theirs, "DATETIME_FORMAT"),
        "place": zone_place(zone_name),
        "yours": formats.date_format(
            yours, "TIME_FORMAT" if yours.date() == theirs.date() else "DATETIME_FORMAT"
        ),
    }
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), text)


@register.simple_tag(takes_context=True)
def handover_section(context, entry: dict):
    """Render one registered handover section: its template, with the page's context plus
    what the section's `context` callback returned."""
    section_template = context.template.engine.get_template(entry["section"].template)
    with context.push(**entry):
        return section_template.render(context)


@register.filter
def rule_words(rrule: str) -> str:
    """A series' rule as people say it ("monthly on the second Tuesday")."""
    return recurrence.rule_describe(rrule)
