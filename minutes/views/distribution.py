"""Distribution pages: the chair's and managers' page (distribute, progress and retry, the
recording, attachments), the members' page of the distributed minutes, the attachments'
downloads, and each member's own action items. HTTP plumbing only.

Who sees what, as everywhere: an invitation-only community is 404 to others; in an open
one, what is for members is 403 to others.
"""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from communities.http import with_community
from communities.selectors import community_can_manage, community_can_read

from .. import selectors, services
from ..enums import ActionStatus, MinutesStatus
from ..markdown import render as markdown_render
from ..models import ActionItem
from .common import act, meeting_or_404, minutes_or_404, refused


def _page(community, meeting) -> str:
    return reverse("minutes:distribution", args=[community.slug, meeting.pk])


# The chair's and managers' page ----------------------------------------------------------


@require_safe
@login_required
@with_community
def distribution(request, community, membership, meeting_id):
    meeting = meeting_or_404(community, meeting_id)
    if not services.minutes_can_distribute(actor=request.user, meeting=meeting):
        return refused(
            request, community, _("Only the meeting's chair and the managers see this page.")
        )
    minutes = minutes_or_404(meeting)
    progress = selectors.minutes_mail_progress(minutes=minutes)
    can_manage = community_can_manage(user=request.user, membership=membership)
    return render(
        request,
        "minutes/distribution.html",
        {
            "community": community,
            "meeting": meeting,
            "minutes": minutes,
            "current": selectors.minutes_current(minutes=minutes),
            "distributed": selectors.minutes_distributed(minutes=minutes),
            "statuses": MinutesStatus,
            "can_manage": can_manage,
            "mail_progress": progress,
            "mail_failed": sum(row.failed for row in progress),
            "attachments": selectors.attachments_of(meeting=meeting),
            "allowed": ", ".join(sorted(e for e in services.ALLOWED_TYPES if e != "jpeg")),
        },
    )


@require_POST
@login_required
@with_community
def distribute(request, community, membership, meeting_id):
    meeting = meeting_or_404(community, meeting_id)
    minutes = minutes_or_404(meeting)
    return act(
        request,
        community,
        lambda: services.minutes_distribute(actor=request.user, minutes=minutes),
        success=lambda count: (
            ngettext(
                "The minutes are on their way to %(count)d member.",
                "The minutes are on their way to %(count)d members.",
                count,
            )
            % {"count": count}
            if count
            else _("Every member has these minutes already.")
        ),
        back=_page(community, meeting),
    )


@require_POST
@login_required
@with_community
def emails_retry(request, community, membership, meeting_id):
    meeting = meeting_or_404(community, meeting_id)
    minutes = minutes_or_404(meeting)
    return act(
        request,
        community,
        lambda: services.minutes_emails_retry(actor=request.user, minutes=minutes),
        success=lambda count: (
            ngettext(
                "%(count)d email will be tried again now.",
                "%(count)d emails will be tried again now.",
                count,
            )
            % {"count": count}
        ),
        back=_page(community, meeting),
    )


@require_POST
@login_required
@with_community
def recording_set(request, community, membership, meeting_id):
    meeting = meeting_or_404(community, meeting_id)
    minutes = minutes_or_404(meeting)
    return act(
        request,
        community,
        lambda: services.minutes_recording_set(
            actor=request.user, minutes=minutes, url=request.POST.get("recording_url", "")
        ),
        success=_("The recording's link is saved."),
        back=_page(community, meeting),
    )


@require_POST
@login_required
@with_community
def attachment_upload(request, community, membership, meeting_id):
    meeting = meeting_or_404(community, meeting_id)
    return act(
        request,
        community,
        lambda: services.attachment_add(
            actor=request.user,
            meeting=meeting,
            upload=request.FILES.get("file"),
            title=request.POST.get("title", ""),
        ),
        success=lambda attachment: _("“%(title)s” is attached.") % {"title": attachment.title},
        back=_page(community, meeting),
    )


@require_POST
@login_required
@with_community
def attachment_delete(request, community, membership, meeting_id, attachment_id):
    meeting = meeting_or_404(community, meeting_id)
    attachment = selectors.attachment_get(meeting=meeting, attachment_id=attachment_id)
    if attachment is None:
        raise Http404(_("No such file."))
    return act(
        request,
        community,
        lambda: services.attachment_delete(actor=request.user, attachment=attachment),
        success=_("The file is removed."),
        back=_page(community, meeting),
    )


# What members read -----------------------------------------------------------------------


@require_safe
@login_required
@with_community
def distributed(request, community, membership, meeting_id):
    if not community_can_read(user=request.user, membership=membership):
        return refused(request, community, _("Only this community's members read its minutes."))
    meeting = meeting_or_404(community, meeting_id)
    minutes = minutes_or_404(meeting)
    revision = selectors.minutes_distributed(minutes=minutes)
    if revision is None:
        raise Http404(_("These minutes have not been distributed yet."))
    return render(
        request,
        "minutes/distributed.html",
        {
            "community": community,
            "meeting": meeting,
            "minutes": minutes,
            "revision": revision,
            "html": markdown_render(revision.body),
            "attachments": selectors.attachments_of(meeting=meeting),
        },
    )


@require_safe
@login_required
@with_community
def attachment(request, community, membership, meeting_id, attachment_id):
    if not community_can_read(user=request.user, membership=membership):
        return refused(
            request, community, _("Only this community's members download its materials.")
        )
    meeting = meeting_or_404(community, meeting_id)
    found = selectors.attachment_get(meeting=meeting, attachment_id=attachment_id)
    if found is None:
        raise Http404(_("No such file."))
    try:
        handle = found.file.open("rb")
    except FileNotFoundError:
        raise Http404(_("No such file.")) from None
    response = FileResponse(
        handle, as_attachment=True, filename=found.filename, content_type=found.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# Members' own action items ---------------------------------------------------------------


@require_safe
@login_required
@with_community
def action_items(request, community, membership):
    if not community_can_read(user=request.user, membership=membership):
        return refused(request, community, _("Only this community's members have action items."))
    items = selectors.action_items_of(user=request.user, community=community).select_related(
        "meeting"
    )
    return render(
        request,
        "minutes/action_items.html",
        {
            "community": community,
            "open": [a for a in items if a.status == ActionStatus.OPEN],
            "closed": [a for a in items if a.status != ActionStatus.OPEN],
            "statuses": ActionStatus,
        },
    )


@require_POST
@login_required
@with_community
def action_item_status(request, community, membership, action_id):
    action = ActionItem.objects.filter(pk=action_id, meeting__community=community).first()
    if action is None:
        raise Http404(_("No such action item in this community."))
    return act(
        request,
        community,
        lambda: services.action_item_status_set(
            actor=request.user, action_item=action, status=request.POST.get("status", "")
        ),
        success=_("The action item is updated."),
        back=reverse("minutes:action_items", args=[community.slug]),
    )
