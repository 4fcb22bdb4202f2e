"""Minutes' Markdown to HTML that is safe to show on a page and to send by email.

Two layers: markdown-it-py with raw HTML off (HTML typed in the text comes out as text,
and it refuses `javascript:`-like links), then nh3 (ammonia) with an explicit allow-list of
tags, attributes and URL schemes — what the first layer lets through by mistake the second
removes. No images (an outside image in an email tells its sender who read it) and no
`style` or `class` (the pages' Content-Security-Policy forbids inline styles).
"""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset(
    {
        "a",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer"

_parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def clean(html: str) -> str:
    """`html` with only the allowed tags, attributes and URL schemes (the rest removed, and
    what <script> and <style> held with them); every link gets rel="noopener noreferrer"."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render(text: str) -> SafeString:
    """The Markdown `text` as safe HTML."""
    return mark_safe(clean(_parser.render(str(text or ""))))  # noqa: S308 - nh3 cleaned it
