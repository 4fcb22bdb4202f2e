"""minutes.markdown: what the minutes show and email carries no script, event handler,
`javascript:` or `data:` link, raw HTML or image — whatever the Markdown says."""

import re
from html.parser import HTMLParser

import pytest
from django.utils.safestring import SafeString

from minutes.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, clean, render


class Elements(HTMLParser):
    """Every start tag of an HTML text, with its attributes."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    for tag, attrs in Elements(html).found:
        assert tag in ALLOWED_TAGS
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        assert not any(name.startswith("on") for name in attrs)
        href = attrs.get("href")
        if href is not None:
            # A browser's scheme (WHATWG URL): letters first, then letters, digits, + - .;
            # anything else before the colon makes a relative address.
            scheme = re.match(r"\s*([a-z][a-z0-9+.-]*):", href, re.IGNORECASE)
            assert scheme is None or scheme[1].lower() in {"http", "https", "mailto"}


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<div onclick="alert(1)">x</div>',
    "<iframe src=https://evil.example></iframe>",
    "<style>body{display:none}</style>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](java%0ascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](https://tracker.example/pixel.gif)",
    "<javascript:alert(1)>",
    '[x](https://example.org "a" onmouseover="alert(1)")',
    "<!-- a comment --> text",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_comes_out_inert(text):
    html = render(text)

    assert_inert(html)
    tags = {tag for tag, _attrs in Elements(html).found}
    assert not tags & {"script", "img", "iframe", "style", "div"}
    assert "<!--" not in html


def test_raw_html_is_shown_as_text():
    assert render("<script>alert(1)</script>") == ("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n")
    assert render("<img src=x onerror=alert(1)>") == ("<p>&lt;img src=x onerror=alert(1)&gt;</p>\n")


def test_a_javascript_link_is_left_as_its_text():
    assert render("[x](javascript:alert(1))") == "<p>[x](javascript:alert(1))</p>\n"


def test_links_keep_http_https_and_mailto_with_noopener_noreferrer():
    html = render('[a](https://example.org/a?b=1 "Title") [m](mailto:staff@example.org)')

    assert html == (
        '<p><a href="https://example.org/a?b=1" title="Title" rel="noopener noreferrer">a</a> '
        '<a href="mailto:staff@example.org" rel="noopener noreferrer">m</a></p>\n'
    )


def test_the_minutes_formatting_survives():
    html = render(
        "# Minutes\n\n- **Chair:** Ann\n- *forward*\n\n1. one\n\n| a | b |\n|---|--:|\n"
        "| 1 | 2 |\n\n~~old~~ `code`\n\n> quoted"
    )

    assert html == (
        "<h1>Minutes</h1>\n<ul>\n<li><strong>Chair:</strong> Ann</li>\n<li><em>forward</em></li>\n"
        "</ul>\n<ol>\n<li>one</li>\n</ol>\n<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n"
        "</tr>\n</thead>\n<tbody>\n<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n</tbody>\n</table>\n"
        "<p><s>old</s> <code>code</code></p>\n<blockquote>\n<p>quoted</p>\n</blockquote>\n"
    )


def test_render_is_safe_for_templates():
    assert isinstance(render("*a*"), SafeString)
    assert render("") == ""


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<p onclick="x()">a</p>', "<p>a</p>"),
        ("<script>alert(1)</script>b", "b"),
        ('<a href="javascript:alert(1)">a</a>', '<a rel="noopener noreferrer">a</a>'),
        ('<a href="data:text/html,x">a</a>', '<a rel="noopener noreferrer">a</a>'),
        ('<img src="x" onerror="alert(1)">', ""),
        ('<code class="language-js" style="color:red">a</code>', "<code>a</code>"),
        (
            '<a href="https://x.example" target="_blank">a</a>',
            '<a href="https://x.example" rel="noopener noreferrer">a</a>',
        ),
    ],
)
def test_the_sanitiser_alone_removes_what_is_not_allowed(html, expected):
    """The second layer, should markdown-it ever let something through."""
    assert clean(html) == expected
