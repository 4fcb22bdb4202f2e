"""The minutes pages through the real URLs: members read the minutes, the chair and
managers edit them with a preview and approve them, a member's lines left out on request;
403 and 404 as every community page answers them, every refusal changing nothing; the
archive newest first, drafts for the chair and managers only, its search (SQLite's filter
here, PostgreSQL's full-text search when DATABASE_URL names one); the exports, and hostile
Markdown inert in the page, the preview and the PDF."""

import io
import re

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from communities.enums import JoinPolicy
from minutes import services
from minutes.enums import MinutesStatus
from minutes.models import Minutes, MinutesRevision
from tests.factories import MembershipFactory, UserFactory
from tests.minutes.helpers import meeting_end, minutes_state, run_until_end, sections, world
from tests.minutes.test_markdown import HOSTILE, assert_inert

pytestmark = pytest.mark.django_db

ROUNDTABLE = "2. Current progress / initiatives roundtable"


def url(w, name="minutes", number=None):
    args = [w.community.slug, w.meeting.pk] + ([number] if number is not None else [])
    return reverse(f"minutes:{name}", args=args)


def archive_url(w):
    return reverse("minutes:archive", args=[w.community.slug])


def client_for(client, user):
    client.force_login(user)
    return client


def current(w) -> MinutesRevision:
    return MinutesRevision.objects.filter(minutes__meeting=w.meeting).latest("number")


def minutes_body(html: str) -> str:
    """What the page shows of the minutes themselves (the rendered Markdown)."""
    found = re.search(r'<div class="minutes-body"[^>]*>(.*?)</div>', html, re.S)
    assert found, "no minutes on the page"
    return found[1]


def page(response) -> str:
    return response.content.decode()


# The minutes page --------------------------------------------------------------------


def test_a_member_reads_the_draft_without_an_editor(client, ended):
    response = client_for(client, ended.users[2]).get(url(ended))

    html = page(response)
    assert response.status_code == 200
    assert "<h1>Minutes: Monthly call, Feb. 10, 2026</h1>" in minutes_body(html)
    assert "<textarea" not in html
    assert "Approve revision 1" not in html
    assert "Leave my roundtable lines out" not in html  # C said nothing at the roundtable


def test_the_chair_gets_the_editor_its_preview_and_approval(client, ended):
    html = page(client_for(client, ended.chair).get(url(ended)))

    assert 'name="body"' in html
    assert f'data-preview-url="{url(ended, "preview")}"' in html
    assert "js/minutes.js" in html
    assert "Approve revision 1" in html
    assert "<h1>Minutes: Monthly call, Feb. 10, 2026</h1>" in minutes_body(html)


def test_the_backup_edits_but_does_not_approve(client, ended):
    html = page(client_for(client, ended.backup).get(url(ended)))

    assert 'name="body"' in html
    assert "Approve revision 1" not in html


def test_no_minutes_before_the_meeting_ends(client, ended):
    other = ended.meetings[2]
    path = reverse("minutes:minutes", args=[ended.community.slug, other.pk])

    response = client_for(client, ended.chair).get(path)

    assert response.status_code == 200
    assert "These minutes are not drafted yet" in page(response)


@pytest.mark.parametrize(
    ("policy", "status"), [(JoinPolicy.OPEN, 403), (JoinPolicy.INVITATION, 404)]
)
@pytest.mark.parametrize(
    "name", ["minutes", "markdown", "pdf", "archive", "edit", "approve", "withhold", "preview"]
)
def test_outsiders_get_403_in_an_open_community_and_404_in_an_invitation_only_one(
    client, django_capture_on_commit_callbacks, policy, status, name
):
    w = world(join_policy=policy)
    run_until_end(w)
    with django_capture_on_commit_callbacks(execute=True):
        meeting_end(w)
    before = minutes_state()
    outsider = client_for(client, UserFactory())
    if name == "archive":
        path = archive_url(w)
    elif name in ("markdown", "pdf"):
        path = url(w, name, number=1)
    else:
        path = url(w, name)
    method = outsider.get if name in ("minutes", "markdown", "pdf", "archive") else outsider.post

    response = method(path, {"body": "Taken over."} if method == outsider.post else None)

    assert response.status_code == status
    assert minutes_state() == before


def test_signed_out_visitors_are_sent_to_sign_in(client, ended):
    response = client.get(archive_url(ended))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_meeting_of_another_community_is_404(client, ended):
    elsewhere = MembershipFactory(community__join_policy=JoinPolicy.OPEN)
    path = reverse("minutes:minutes", args=[elsewhere.community.slug, ended.meeting.pk])

    assert client_for(client, elsewhere.user).get(path).status_code == 404


# Editing and the preview -------------------------------------------------------------


def test_the_chair_saves_an_edit(client, ended):
    body = current(ended).body.replace("Share the triage list.", "Share the list.")

    response = client_for(client, ended.chair).post(url(ended, "edit"), {"body": body})

    assert response.status_code == 302
    revision = current(ended)
    assert (revision.number, revision.edited_by) == (1, ended.chair)
    assert sections(revision.body)["Decisions"] == "- Share the list."


def test_an_empty_edit_is_shown_next_to_the_field_and_changes_nothing(client, ended):
    before = minutes_state()

    response = client_for(client, ended.chair).post(url(ended, "edit"), {"body": "  "})

    assert response.status_code == 400
    assert "Write something first." in page(response)
    assert minutes_state() == before


def test_the_no_script_preview_button_previews_without_saving(client, ended):
    before = minutes_state()

    response = client_for(client, ended.chair).post(
        url(ended, "edit"), {"body": "# Only *a preview*", "action": "preview"}
    )

    assert response.status_code == 200
    assert minutes_body(page(response)) == "<h1>Only <em>a preview</em></h1>\n"
    assert minutes_state() == before


@pytest.mark.parametrize("who", ["member", "newcomer"])
def test_a_member_cannot_edit_or_preview(client, ended, who):
    actor = ended.users[2] if who == "member" else ended.newcomer
    before = minutes_state()
    member = client_for(client, actor)

    assert member.post(url(ended, "edit"), {"body": "Mine now."}).status_code == 403
    assert member.post(url(ended, "preview"), {"body": "Mine"}).status_code == 403
    assert minutes_state() == before


def test_the_preview_answers_the_sanitised_fragment(client, ended):
    response = client_for(client, ended.chair).post(
        url(ended, "preview"), {"body": "# Title\n\n- **one**\n- [link](https://example.org)"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert page(response) == (
        "<h1>Title</h1>\n<ul>\n<li><strong>one</strong></li>\n"
        '<li><a href="https://example.org" rel="noopener noreferrer">link</a></li>\n</ul>\n'
    )


def test_the_preview_needs_the_csrf_token(ended):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(ended.chair)

    assert strict.post(url(ended, "preview"), {"body": "x"}).status_code == 403


HOSTILE_TEXT = "\n\n".join(HOSTILE) + "\n\n<!-- a comment --><b>raw</b>\n"


def test_hostile_markdown_is_inert_in_the_preview_and_the_page(client, ended):
    chair = client_for(client, ended.chair)

    preview = page(chair.post(url(ended, "preview"), {"body": HOSTILE_TEXT}))
    chair.post(url(ended, "edit"), {"body": HOSTILE_TEXT})
    client.force_login(ended.users[2])
    shown = minutes_body(page(client.get(url(ended))))

    for html in (preview, shown):
        assert_inert(html)
        assert "<script" not in html and "<b>" not in html and "<!--" not in html
        assert "&lt;b&gt;raw&lt;/b&gt;" in html  # raw HTML reads as text


# Approval ----------------------------------------------------------------------------


def test_the_chair_approves_and_the_button_goes(client, ended):
    chair = client_for(client, ended.chair)

    response = chair.post(url(ended, "approve"), {"number": "1"}, follow=True)

    assert "Revision 1 of the minutes is approved." in page(response)
    assert current(ended).status == MinutesStatus.APPROVED
    assert "Approve revision" not in page(response)
    assert "approved by Member A" in page(response)


def test_approving_twice_says_so_and_changes_nothing(client, ended):
    chair = client_for(client, ended.chair)
    chair.post(url(ended, "approve"), {"number": "1"})
    before = minutes_state()

    response = chair.post(url(ended, "approve"), {"number": "1"}, follow=True)

    assert "Revision 1 of these minutes is already approved." in page(response)
    assert minutes_state() == before


@pytest.mark.parametrize("who", ["member", "backup"])
def test_a_member_who_is_not_the_chair_cannot_approve(client, ended, who):
    actor = ended.users[2] if who == "member" else ended.backup
    before = minutes_state()

    response = client_for(client, actor).post(url(ended, "approve"), {"number": "1"})

    assert response.status_code == 403
    assert minutes_state() == before


def test_an_edit_after_approval_is_revision_2_and_the_page_shows_what_changed(client, ended):
    chair = client_for(client, ended.chair)
    chair.post(url(ended, "approve"), {"number": "1"})
    body = current(ended).body.replace("Share the triage list.", "Share the triage list by May.")

    response = chair.post(url(ended, "edit"), {"body": body}, follow=True)

    html = page(response)
    assert "The minutes are saved as revision 2, a draft." in html
    assert "What changed from revision 1 to 2" in html
    assert "<del>-- Share the triage list.</del>" in html
    assert "<ins>+- Share the triage list by May.</ins>" in html
    assert "Approve revision 2" in html
    assert list(MinutesRevision.objects.values_list("number", "status").order_by("number")) == [
        (1, MinutesStatus.APPROVED),
        (2, MinutesStatus.DRAFT),
    ]


# Roundtable lines left out -----------------------------------------------------------


def test_a_member_with_lines_leaves_them_out(client, ended):
    newcomer = client_for(client, ended.newcomer)
    html = page(newcomer.get(url(ended)))
    assert "Leave my roundtable lines out of the minutes" in html

    response = newcomer.post(url(ended, "withhold"), follow=True)

    html = page(response)
    assert "Your roundtable lines are left out of the minutes." in html
    assert "Leave my roundtable lines out of the minutes" not in html
    assert "Newcomer" not in sections(current(ended).body)[ROUNDTABLE]


def test_the_chair_is_told_of_withheld_lines_still_in_an_edited_draft(client, ended):
    rewritten = current(ended).body.replace("A challenge or success: \\*\\*New", "Said: \\*\\*New")
    services.minutes_draft_edit(actor=ended.chair, meeting=ended.meeting, body=rewritten)

    response = client_for(client, ended.newcomer).post(url(ended, "withhold"), follow=True)
    assert "could not all be removed automatically" in page(response)

    client.force_login(ended.chair)
    html = page(client.get(url(ended)))
    assert "asked that their roundtable lines be left out of the minutes" in html
    assert "<li>Newcomer</li>" in html


def test_after_approval_the_button_is_gone_and_a_post_is_refused(client, ended):
    services.minutes_approve(actor=ended.chair, minutes=Minutes.objects.get())
    newcomer = client_for(client, ended.newcomer)
    assert "Leave my roundtable lines out" not in page(newcomer.get(url(ended)))
    before = minutes_state()

    response = newcomer.post(url(ended, "withhold"), follow=True)

    assert "These minutes are approved: your lines can no longer be left out here." in page(
        response
    )
    assert minutes_state() == before


# The archive -------------------------------------------------------------------------


def _more_minutes(w, titles_and_status):
    """Minutes for the meetings after the February one (in order), each one revision."""
    made = []
    for meeting, (body, status) in zip(w.meetings[2:], titles_and_status, strict=False):
        minutes = Minutes.objects.create(meeting=meeting)
        made.append(
            MinutesRevision.objects.create(minutes=minutes, number=1, body=body, status=status)
        )
    return made


def archive_titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="[^"]+">([^<]+)</a>', html)


def test_members_see_approved_minutes_newest_first_and_no_drafts(client, ended):
    services.minutes_approve(actor=ended.chair, minutes=Minutes.objects.get())
    _more_minutes(
        ended,
        [("# March\n\nSleep.\n", MinutesStatus.DISTRIBUTED), ("# April\n", MinutesStatus.DRAFT)],
    )
    march, april = ended.meetings[2], ended.meetings[3]
    type(march).objects.filter(pk=march.pk).update(title="March call")
    type(april).objects.filter(pk=april.pk).update(title="April call")

    member = page(client_for(client, ended.users[2]).get(archive_url(ended)))
    client.force_login(ended.manager)
    manager = page(client.get(archive_url(ended)))

    assert archive_titles(member) == ["March call", "Monthly call"]
    assert archive_titles(manager) == ["April call", "March call", "Monthly call"]


def test_the_chair_sees_their_meetings_draft_in_the_archive(client, ended):
    html = page(client_for(client, ended.chair).get(archive_url(ended)))

    assert archive_titles(html) == ["Monthly call"]
    assert "Draft" in html


def test_members_see_the_latest_approved_revision_while_a_new_one_is_drafted(client, ended):
    services.minutes_approve(actor=ended.chair, minutes=Minutes.objects.get())
    services.minutes_draft_edit(actor=ended.chair, meeting=ended.meeting, body="Revised.")

    html = page(client_for(client, ended.users[2]).get(archive_url(ended)))

    assert "Revision 1" in html and "Revision 2" not in html


def test_the_archive_search_finds_the_words_in_the_minutes(client, ended):
    services.minutes_approve(actor=ended.chair, minutes=Minutes.objects.get())
    _more_minutes(ended, [("# March\n\nWe talked about scribes.\n", MinutesStatus.APPROVED)])
    member = client_for(client, ended.users[2])

    found = page(member.get(archive_url(ended), {"q": "triage"}))
    none = page(member.get(archive_url(ended), {"q": "zebras"}))

    assert archive_titles(found) == ["Monthly call"]
    assert "1 minutes match “triage”." in found
    assert archive_titles(none) == []
    assert "0 minutes match “zebras”." in none


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgres_search_stems_in_the_community_language(
    client, django_capture_on_commit_callbacks
):
    w = world(language="fr")
    run_until_end(w)
    with django_capture_on_commit_callbacks(execute=True):
        meeting_end(w)
    services.minutes_draft_edit(
        actor=w.chair, meeting=w.meeting, body="# Procès-verbal\n\nLes infirmières parlaient.\n"
    )
    services.minutes_approve(actor=w.chair, minutes=Minutes.objects.get())
    member = client_for(client, w.users[2])

    # French stemming: "infirmière" finds "infirmières", "parler" finds "parlaient".
    assert archive_titles(page(member.get(archive_url(w), {"q": "infirmière"}))) == ["Monthly call"]
    assert archive_titles(page(member.get(archive_url(w), {"q": "parler"}))) == ["Monthly call"]
    assert archive_titles(page(member.get(archive_url(w), {"q": "zèbre"}))) == []


def test_the_archive_query_count_does_not_grow(client, ended):
    services.minutes_approve(actor=ended.chair, minutes=Minutes.objects.get())
    member = client_for(client, ended.users[2])
    member.get(archive_url(ended))  # sessions, caches
    with CaptureQueriesContext(connection) as one:
        member.get(archive_url(ended))
    _more_minutes(ended, [(f"# {n}\n", MinutesStatus.APPROVED) for n in range(2)])

    with CaptureQueriesContext(connection) as three:
        html = page(member.get(archive_url(ended)))

    assert len(archive_titles(html)) == 3
    assert len(three) == len(one)


def test_the_archive_and_minutes_pages_are_print_friendly(client, ended):
    member = client_for(client, ended.users[2])
    archive = page(member.get(archive_url(ended)))
    minutes = page(member.get(url(ended)))

    assert 'class="search no-print"' in archive
    assert 'class="revisions no-print"' in minutes
    css = (settings.BASE_DIR / "static" / "css" / "site.css").read_text()
    print_rules = css[css.index("@media print") :]
    assert ".site-header, .site-footer, .skip, nav, form, .no-print" in print_rules


# Exports -----------------------------------------------------------------------------


def test_the_markdown_export(client, ended):
    response = client_for(client, ended.users[2]).get(url(ended, "markdown", number=1))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="minutes-{ended.community.slug}-2026-02-10-r1.md"'
    )
    assert response.content.decode() == current(ended).body


def test_an_unknown_revision_is_404(client, ended):
    member = client_for(client, ended.users[2])

    assert member.get(url(ended, "markdown", number=9)).status_code == 404
    assert member.get(url(ended, "pdf", number=9)).status_code == 404


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_pdf_export(client, ended):
    response = client_for(client, ended.users[2]).get(url(ended, "pdf", number=1))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="minutes-{ended.community.slug}-2026-02-10-r1.pdf"'
    )
    text = pdf_text(response.content)
    assert "Minutes: Monthly call, Feb. 10, 2026" in text
    assert "Share the triage list." in text
    assert "Skip to content" not in text  # the page's chrome is not in it


def test_hostile_markdown_is_inert_in_the_pdf(client, ended):
    services.minutes_draft_edit(actor=ended.chair, meeting=ended.meeting, body=HOSTILE_TEXT)

    response = client_for(client, ended.users[2]).get(url(ended, "pdf", number=1))

    reader = PdfReader(io.BytesIO(response.content))
    text = pdf_text(response.content)
    assert "<!-- a comment --><b>raw</b>" in text  # raw HTML printed as text, not obeyed
    assert "<script>alert(1)</script>" in text
    for pdf_page in reader.pages:
        for annotation in pdf_page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            uri = str(action.get("/URI", ""))
            assert not uri.lower().startswith(("javascript:", "data:", "vbscript:")), uri
        assert "/JS" not in str(pdf_page.get_object())
    assert "/JavaScript" not in str(reader.trailer["/Root"])


# Links from the community's and the meeting's pages ----------------------------------


def test_the_community_and_meeting_pages_link_to_the_minutes(client, ended):
    member = client_for(client, ended.users[2])

    community_page = page(member.get(ended.community.get_absolute_url()))
    meeting_page = page(member.get(ended.meeting.get_absolute_url()))

    assert f'href="{archive_url(ended)}">Minutes</a>' in community_page
    assert f'href="{url(ended)}">The minutes</a>' in meeting_page
