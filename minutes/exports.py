"""The minutes as files: Markdown as written, and PDF from the sanitised HTML.

WeasyPrint fetches what a document links to (stylesheets, images, fonts). Its fetcher here
serves only the site's own static files, found through the staticfiles finders, named with
the `static:` scheme (`static:css/site.css`); anything else — http(s)://, file://, data:,
a path leaving the static folders — is refused, so neither the minutes' text nor a
template can make the server read its disk or call out.
"""

import mimetypes
from datetime import datetime
from pathlib import Path

from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_SCHEME = "static:"


class StaticOnlyFetcher(URLFetcher):
    """WeasyPrint's fetcher for the site's static files only (see the module's doc)."""

    def fetch(self, url, headers=None):
        path = static_file_path(url)
        if path is None:
            raise ValueError(f"Only the site's static files may be fetched, not {url[:200]!r}")
        mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(
            url, path.read_bytes(), headers={"Content-Type": mime_type}, status=200
        )


def static_file_path(url: str) -> Path | None:
    """The static file `static:<path>` names, or None for any other URL or no such file."""
    if not isinstance(url, str) or not url.startswith(STATIC_SCHEME):
        return None
    name = url[len(STATIC_SCHEME) :].split("?", 1)[0].split("#", 1)[0]
    if not name or name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/"):
        return None
    try:
        found = finders.find(name)
    except SuspiciousFileOperation:
        return None
    if not found or isinstance(found, list):
        return None
    path = Path(found)
    return path if path.is_file() else None


def export_filename(*, community_slug: str, starts_at: datetime, number: int, ext: str) -> str:
    day = timezone.localtime(starts_at).date().isoformat()
    return f"minutes-{community_slug}-{day}-r{number}.{ext}"


def pdf_html(*, context: dict) -> str:
    """The HTML WeasyPrint lays out: the PDF template around the sanitised minutes."""
    return render_to_string("minutes/pdf.html", context)


def pdf_render(html: str) -> bytes:
    """`html` as a PDF, its links fetched by `StaticOnlyFetcher` only."""
    return HTML(string=html, base_url=None, url_fetcher=StaticOnlyFetcher()).write_pdf()
