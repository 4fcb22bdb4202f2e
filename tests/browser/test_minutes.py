"""The minutes in Chromium against the real server: the chair edits the draft and sees the
live preview (the server's sanitised render), saves and approves it; a member finds it in
the archive, searches it, reads it and downloads its PDF. axe finds nothing serious on the
minutes page (the editor's and a member's) or the archive."""

import io

import pytest
from django.urls import reverse
from playwright.sync_api import expect
from pypdf import PdfReader

from minutes import services
from minutes.enums import MinutesStatus
from minutes.models import MinutesRevision
from tests.browser.pages import blocking_violations, sign_in
from tests.minutes.helpers import meeting_end, run_until_end, world

pytestmark = pytest.mark.browser


def _ended_meeting():
    w = world()
    run_until_end(w)
    meeting_end(w)
    services.minutes_draft_generate(meeting=w.meeting)  # committed already: made or found
    return w


def test_the_chair_edits_and_approves_and_a_member_reads_searches_and_downloads(
    daphne_server, page
):
    w = _ended_meeting()
    minutes_url = reverse("minutes:minutes", args=[w.community.slug, w.meeting.pk])
    archive_url = reverse("minutes:archive", args=[w.community.slug])

    refused = []  # Content-Security-Policy violations the browser reports
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    # The chair: the editor, with the draft rendered beside it.
    sign_in(page, daphne_server, w.chair, minutes_url)
    preview = page.locator("[data-preview]")
    expect(preview.get_by_role("heading", level=1)).to_have_text(
        "Minutes: Monthly call, Feb. 10, 2026"
    )
    assert blocking_violations(page) == []

    # Typing updates the preview, without saving, through the server's render.
    textarea = page.get_by_label("The minutes, in Markdown")
    textarea.focus()
    page.keyboard.press("ControlOrMeta+End")
    page.keyboard.type("\n\n## Thanks\n\nA **warm welcome** to <b>everyone</b>.")
    expect(preview.locator("strong", has_text="warm welcome")).to_be_visible()
    expect(preview.get_by_role("heading", name="Thanks")).to_be_visible()
    expect(preview).to_contain_text("<b>everyone</b>")  # raw HTML reads as text
    assert preview.locator("b").count() == 0
    assert MinutesRevision.objects.get().edited_at is None

    # Saved (by the keyboard), then approved.
    page.get_by_role("button", name="Save the minutes").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text(
        "The minutes are saved as revision 1, a draft."
    )
    page.get_by_role("button", name="Approve revision 1").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text(
        "Revision 1 of the minutes is approved."
    )
    expect(page.get_by_role("heading", level=1).first).to_contain_text("Approved")
    revision = MinutesRevision.objects.get()
    assert (revision.status, revision.approved_by) == (MinutesStatus.APPROVED, w.chair)
    assert blocking_violations(page) == []
    page.get_by_role("button", name="Sign out").click()

    # A member: the archive, its search, the minutes, the PDF.
    member = w.users[2]
    sign_in(page, daphne_server, member, archive_url)
    expect(page.get_by_role("link", name="Monthly call", exact=True)).to_be_visible()
    assert blocking_violations(page) == []

    search = page.get_by_label("Search the minutes")
    search.fill("zebras")
    search.press("Enter")
    expect(page.get_by_role("status").last).to_contain_text("0 minutes match “zebras”.")
    expect(page.get_by_role("link", name="Monthly call", exact=True)).to_have_count(0)
    search = page.get_by_label("Search the minutes")
    search.fill("welcome")
    search.press("Enter")
    expect(page.get_by_role("status").last).to_contain_text("1 minutes match “welcome”.")

    page.get_by_role("link", name="Monthly call", exact=True).click()
    expect(page).to_have_url(daphne_server + minutes_url)
    body = page.locator(".minutes-text .minutes-body")
    expect(body.locator("strong", has_text="warm welcome")).to_be_visible()
    expect(page.locator("textarea")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve revision 1")).to_have_count(0)
    assert blocking_violations(page) == []

    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF (revision 1)").click()
    download = download_info.value
    assert download.suggested_filename == f"minutes-{w.community.slug}-2026-02-10-r1.pdf"
    with open(download.path(), "rb") as pdf:
        reader = PdfReader(io.BytesIO(pdf.read()))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Minutes: Monthly call, Feb. 10, 2026" in text
    assert "A warm welcome to <b>everyone</b>." in text
    assert refused == []
