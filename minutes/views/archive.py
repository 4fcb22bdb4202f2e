"""A meeting's minutes page (read by its members; edited with a live preview and
approved by the chair and managers; a member's roundtable lines left out on request),
its exports (Markdown, PDF), and the community's archive with its search.

Members only: an invitation-only community is 404 to others (`with_community`), an open
one 403, as every community page.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from communities.http import refusal_response, with_community
from communities.selectors import community_can_manage, community_can_read

from .. import exports, selectors, services
from ..enums import MinutesStatus
from ..forms import MinutesForm, SearchForm
from ..markdown import render as markdown_render
from ..models import BODY_LENGTH
from .common import act, meeting_or_404, minutes_or_404, refused


def _members_only(view):
    """The community's members and site staff (others: 403), and the meeting (404 if not
    this community's): `view(request, community, membership, meeting, ...)`."""

    @wraps(view)
    def wrapper(request, community, membership, meeting_id, *args, **kwargs):
        if not community_can_read(user=request.user, membership=membership):
            return refused(request, community, _("Only this community's members read its minutes."))
        meeting = meeting_or_404(community, meeting_id)
        return view(request, community, membership, meeting, *args, **kwargs)

    return wrapper


def _minutes_url(community, meeting) -> str:
    return reverse("minutes:minutes", kwargs={"slug": community.slug, "meeting_id": meeting.pk})


def _page(request, community, membership, meeting, *, form=None, preview=None, status=200):
    user = request.user
    minutes = selectors.minutes_of(meeting=meeting)
    context = {"community": community, "meeting": meeting, "minutes": minutes}
    if minutes is None:
        return render(request, "minutes/minutes.html", context, status=status)
    history = selectors.minutes_history(minutes=minutes)
    current = history[-1].revision
    can_edit = services.minutes_can_record(actor=user, meeting=meeting) and (
        not meeting.is_cancelled
    )
    approved = any(entry.revision.status != MinutesStatus.DRAFT for entry in history)
    withheld = selectors.minutes_lines_withheld(meeting=meeting)
    my_lines = selectors.minutes_lines_of(meeting=meeting, user=user)
    context.update(
        {
            "history": list(reversed(history)),  # the latest first
            "current": current,
            "html": markdown_render(current.body),
            "can_edit": can_edit,
            "can_approve": current.status == MinutesStatus.DRAFT
            and services.minutes_can_approve(actor=user, meeting=meeting),
            "can_withhold": services.minutes_can_withhold(actor=user, meeting=meeting),
            "my_lines": my_lines,
            "i_withheld": any(entry.user_id == user.pk for entry in withheld),
            "approved": approved,
            "can_distribute": services.minutes_can_distribute(actor=user, meeting=meeting),
        }
    )
    if can_edit:
        context["form"] = form or MinutesForm(initial={"body": current.body})
        context["preview"] = context["html"] if preview is None else preview
        context["still_in"] = selectors.minutes_lines_still_in(meeting=meeting, body=current.body)
    return render(request, "minutes/minutes.html", context, status=status)


@require_GET
@login_required
@with_community
@_members_only
def minutes_page(request, community, membership, meeting):
    return _page(request, community, membership, meeting)


def _editors_only(request, community, meeting):
    if not services.minutes_can_record(actor=request.user, meeting=meeting):
        return refused(
            request,
            community,
            _("Only the meeting's chair, its backup and the managers can edit its minutes."),
        )
    return None


@require_POST
@login_required
@with_community
@_members_only
def minutes_edit(request, community, membership, meeting):
    """Save the text (the default button), or, without JavaScript, preview it."""
    refusal = _editors_only(request, community, meeting)
    if refusal:
        return refusal
    minutes_or_404(meeting)
    form = MinutesForm(request.POST)
    if not form.is_valid():
        return _page(request, community, membership, meeting, form=form, status=400)
    body = form.cleaned_data["body"]
    if request.POST.get("action") == "preview":
        preview = markdown_render(body[:BODY_LENGTH])
        return _page(request, community, membership, meeting, form=form, preview=preview)
    try:
        revision = services.minutes_draft_edit(actor=request.user, meeting=meeting, body=body)
    except services.MinutesError as error:
        if error.forbidden:
            return refusal_response(request, community, error)
        form.add_error("body" if error.field == "body" else None, error.message)
        return _page(request, community, membership, meeting, form=form, status=400)
    messages.success(
        request,
        _("The minutes are saved as revision %(number)d, a draft.") % {"number": revision.number},
    )
    return redirect(_minutes_url(community, meeting))


@require_POST
@login_required
@with_community
@_members_only
def minutes_preview(request, community, membership, meeting):
    """The sanitised HTML of the posted text, for the editor's live preview."""
    refusal = _editors_only(request, community, meeting)
    if refusal:
        return refusal
    body = request.POST.get("body", "")
    if len(body) > BODY_LENGTH:
        return HttpResponse(
            _("At most %(limit)d characters.") % {"limit": BODY_LENGTH},
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(markdown_render(body), content_type="text/html; charset=utf-8")


@require_POST
@login_required
@with_community
@_members_only
def minutes_approve(request, community, membership, meeting):
    minutes = minutes_or_404(meeting)
    try:
        number = int(request.POST.get("number", ""))
    except ValueError:
        number = None
    return act(
        request,
        community,
        lambda: services.minutes_approve(actor=request.user, minutes=minutes, number=number),
        success=lambda revision: (
            _("Revision %(number)d of the minutes is approved.") % {"number": revision.number}
        ),
        back=_minutes_url(community, meeting),
    )


def _withheld_message(result):
    _request, clean = result
    if clean:
        return _("Your roundtable lines are left out of the minutes.")
    return _(
        "Your request is recorded. The chair has edited the minutes by hand, so your lines "
        "could not all be removed automatically; the chair is asked to remove them before "
        "approving."
    )


@require_POST
@login_required
@with_community
@_members_only
def lines_withhold(request, community, membership, meeting):
    minutes_or_404(meeting)
    return act(
        request,
        community,
        lambda: services.minutes_lines_withhold(actor=request.user, meeting=meeting),
        success=_withheld_message,
        back=_minutes_url(community, meeting),
    )


# Exports -----------------------------------------------------------------------------


def _revision_or_404(meeting, number):
    revision = selectors.minutes_revision_get(minutes=minutes_or_404(meeting), number=number)
    if revision is None:
        raise Http404(_("No such revision of these minutes."))
    return revision


def _attachment(content, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _filename(community, meeting, revision, ext):
    return exports.export_filename(
        community_slug=community.slug, starts_at=meeting.starts_at, number=revision.number, ext=ext
    )


@require_GET
@login_required
@with_community
@_members_only
def export_markdown(request, community, membership, meeting, number):
    revision = _revision_or_404(meeting, number)
    return _attachment(
        revision.body,
        content_type="text/markdown; charset=utf-8",
        filename=_filename(community, meeting, revision, "md"),
    )


@require_GET
@login_required
@with_community
@_members_only
def export_pdf(request, community, membership, meeting, number):
    revision = _revision_or_404(meeting, number)
    html = exports.pdf_html(
        context={
            "community": community,
            "meeting": meeting,
            "revision": revision,
            "html": markdown_render(revision.body),
            "stylesheet": f"{exports.STATIC_SCHEME}css/minutes-pdf.css",
        }
    )
    return _attachment(
        exports.pdf_render(html),
        content_type="application/pdf",
        filename=_filename(community, meeting, revision, "pdf"),
    )


# The archive -------------------------------------------------------------------------


@require_GET
@login_required
@with_community
def archive(request, community, membership):
    if not community_can_read(user=request.user, membership=membership):
        return refused(request, community, _("Only this community's members read its minutes."))
    form = SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    revisions = list(
        selectors.minutes_archive(
            community=community,
            user=request.user,
            can_manage=community_can_manage(user=request.user, membership=membership),
            query=query,
        )
    )
    return render(
        request,
        "minutes/archive.html",
        {"community": community, "form": form, "query": query, "revisions": revisions},
        status=200 if form.is_valid() else 400,
    )
