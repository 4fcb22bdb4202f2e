"""minutes.exports: WeasyPrint fetches the site's own static files and nothing else, and
the HTML it lays out carries the sanitised minutes only."""

import io

import pytest
from django.contrib.staticfiles import finders
from pypdf import PdfReader

from minutes import exports
from minutes.markdown import render
from minutes.models import MinutesRevision
from tests.minutes.test_markdown import HOSTILE, Elements, assert_inert


def test_the_fetcher_serves_a_static_file():
    response = exports.StaticOnlyFetcher().fetch("static:css/site.css")

    assert response.content_type == "text/css"
    assert response.read() == open(finders.find("css/site.css"), "rb").read()  # noqa: SIM115


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "http://127.0.0.1:9/x.css",
        "https://example.org/x.css",
        "//example.org/x.css",
        "data:text/css,body{}",
        "ftp://example.org/x",
        "static:../chatserver/settings/base.py",
        "static:css/../../manage.py",
        "static:/etc/passwd",
        "static:css\\..\\..\\manage.py",
        "static:css/nothing-here.css",
        "static:",
        "/static/css/site.css",
        "css/site.css",
    ],
)
def test_the_fetcher_refuses_everything_else(url):
    assert exports.static_file_path(url) is None
    with pytest.raises(ValueError, match="Only the site's static files"):
        exports.StaticOnlyFetcher().fetch(url)


def test_a_pdf_linking_outside_fetches_nothing(monkeypatch):
    asked = []
    fetch = exports.StaticOnlyFetcher.fetch

    def spy(self, url, headers=None):
        asked.append(url)
        return fetch(self, url, headers)

    monkeypatch.setattr(exports.StaticOnlyFetcher, "fetch", spy)
    html = (
        '<html><head><link rel="stylesheet" href="static:css/site.css">'
        '<link rel="stylesheet" href="file:///etc/passwd"></head>'
        '<body><p>Hello</p><img src="http://127.0.0.1:9/pixel.png"></body></html>'
    )

    pdf = exports.pdf_render(html)

    assert PdfReader(io.BytesIO(pdf)).pages[0].extract_text().strip() == "Hello"
    assert sorted(asked) == [
        "file:///etc/passwd",
        "http://127.0.0.1:9/pixel.png",
        "static:css/site.css",
    ]


@pytest.mark.django_db
def test_the_html_given_to_weasyprint_is_the_sanitised_minutes(ended):
    revision = MinutesRevision.objects.get()
    hostile = "\n\n".join(HOSTILE)

    html = exports.pdf_html(
        context={
            "community": ended.community,
            "meeting": ended.meeting,
            "revision": revision,
            "html": render(hostile),
            "stylesheet": "static:css/site.css",
        }
    )

    body = html[html.index('<div class="minutes-body">') + len('<div class="minutes-body">') :]
    body = body[: body.index("</div>")]
    assert_inert(body)
    links = [attrs for tag, attrs in Elements(html).found if tag == "link"]
    assert links == [{"rel": "stylesheet", "href": "static:css/site.css"}]
    assert "<script" not in html and "<img" not in html
