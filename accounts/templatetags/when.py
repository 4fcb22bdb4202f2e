"""`{{ value|when }}`: a time in the viewer's zone, with the zone named, in a <time> tag."""

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html

register = template.Library()


@register.filter
def when(value, fmt: str = "DATETIME_FORMAT"):
    if not value:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{} {}</time>',
        value.isoformat(),
        formats.date_format(local, fmt),
        local.strftime("%Z"),
    )
