"""Meeting pages: HTTP plumbing only (communities.http helpers, one service or selector each).

Who sees what: a community's pages are for those who may see the community (an
invitation-only one is 404 to others). Members (and site staff) see chairs, who answered,
the side chat and the video-call link; other visitors see the meetings' times only.
"""

import hashlib
from dataclasses import dataclass
from functools import wraps
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import content_disposition_header, quote_etag
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import User
from communities.http import manager_view, perform, refusal_response, with_community
from communities.selectors import community_can_manage, community_can_read, community_members
from communities.services import CommunityActionError

from . import selectors, services
from .forms import (
    AnswerForm,
    AttendanceForm,
    ChairOverrideForm,
    MeetingForm,
    SeriesForm,
    SwapForm,
    error_field,
)
from .models import CalendarFeed, ChairSwap, Meeting

PAST_PER_PAGE = 10
LOG_PER_PAGE = 25


def _form_data(request):
    """Bound on any POST, even an empty one, so missing fields are reported."""
    return request.POST if request.method == "POST" else None


def _meeting_or_404(community, meeting_id) -> Meeting:
    try:
        return selectors.meeting_get(community=community, meeting_id=meeting_id)
    except selectors.MeetingNotFound:
        raise Http404(_("No such meeting in this community.")) from None


def _meeting_url(community, meeting) -> str:
    return reverse("meetings:detail", kwargs={"slug": community.slug, "meeting_id": meeting.pk})


def _refused(request, community, message):
    return refusal_response(
        request, community, CommunityActionError(message, code="forbidden", forbidden=True)
    )


def _attempt(request, community, form, action):
    """Call a service for a form. Returns (its result, None); a refusal goes on the form
    next to its field (result None, no response), or answers 403 when it is forbidden."""
    try:
        return action(), None
    except services.MeetingError as error:
        if error.forbidden:
            return None, refusal_response(request, community, error)
        form.add_error(error_field(form, error.field), error.message)
        return None, None
    except CommunityActionError as error:
        return None, refusal_response(request, community, error)


def _act(request, community, action, *, success, back: str):
    """Call a service that takes no form; its refusal becomes a message on the page.
    `success`: the message, or a function of the service's result that says it."""
    try:
        result = action()
    except services.MeetingError as error:
        if error.forbidden:
            return refusal_response(request, community, error)
        messages.error(request, error.message)
    except CommunityActionError as error:
        return refusal_response(request, community, error)
    else:
        messages.success(request, success(result) if callable(success) else success)
    return redirect(back)


def members_view(view):
    """`with_community`, and only for its members and site staff (others: 403)."""

    @with_community
    @wraps(view)
    def wrapper(request, community, membership, *args, **kwargs):
        if not community_can_read(user=request.user, membership=membership):
            return _refused(
                request, community, _("Only this community's members see its chair rota.")
            )
        return view(request, community, membership, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class Chair:
    """A meeting's chair and backup as a page shows them."""

    chair: User | None
    backup: User | None
    confirmed: bool
    reason: str


def _chair_of(meeting, turn) -> Chair:
    if turn is not None:
        return Chair(turn.chair, turn.backup, turn.confirmed, turn.reason)
    return Chair(
        meeting.chair, meeting.backup, meeting.chair_confirmed_at is not None, meeting.chair_reason
    )


# The meetings ----------------------------------------------------------------------------


@login_required
@with_community
def meeting_list(request, community, membership):
    now = timezone.now()
    can_read = community_can_read(user=request.user, membership=membership)
    upcoming = list(selectors.meetings_upcoming(community=community, now=now))
    turns = (
        {t.meeting.pk: t for t in selectors.rota_turns(community=community, now=now)}
        if can_read
        else {}
    )
    past = Paginator(selectors.meetings_past(community=community, now=now), PAST_PER_PAGE)
    return render(
        request,
        "meetings/list.html",
        {
            "community": community,
            "can_read": can_read,
            "can_manage": community_can_manage(user=request.user, membership=membership),
            "upcoming": [(m, _chair_of(m, turns.get(m.pk))) for m in upcoming],
            "past": past.get_page(request.GET.get("page")),
        },
    )


def _detail_page(
    request,
    community,
    membership,
    meeting,
    *,
    answer_form=None,
    override_form=None,
    attendance_form=None,
    status=200,
):
    now = timezone.now()
    user = request.user
    can_read = community_can_read(user=user, membership=membership)
    can_manage = community_can_manage(user=user, membership=membership)
    is_member = membership is not None and membership.is_active
    started, open_ = meeting.has_started(now), not meeting.is_cancelled
    chair = _chair_of(meeting, selectors.rota_turn(meeting=meeting, now=now) if can_read else None)
    is_chair = chair.confirmed and chair.chair is not None and chair.chair.pk == user.pk
    context = {
        "community": community,
        "meeting": meeting,
        "chair": chair,
        "can_read": can_read,
        "can_manage": can_manage,
        "is_chair": is_chair,
        "sees_notes": can_manage or is_chair,
        "started": started,
        "ended": meeting.has_ended(now),
        "can_change": can_manage and open_ and not started,
        "sees_link": selectors.meeting_can_see_link(user=user, membership=membership),
        "summary": selectors.answer_summary(meeting=meeting),
        "links": selectors.meeting_links_for(meeting=meeting) if can_read else [],
    }
    if can_manage:
        progress = selectors.meeting_mail_progress(meeting=meeting)
        context["mail_progress"] = progress
        context["mail_failed"] = sum(row.failed for row in progress)
    # A form sent back with its errors is shown whatever the meeting's state, so the
    # reason it was refused shows with it.
    if is_member:
        mine = selectors.answer_of(meeting=meeting, user=user)
        context["my_answer"] = mine
        if answer_form is None and open_ and not started:
            initial = {"response": mine.response, "note": mine.note} if mine else {}
            answer_form = AnswerForm(initial=initial)
        context["answer_form"] = answer_form
    if can_manage and open_:
        members = list(community_members(community=community))
        if override_form is None and not started:
            override_form = ChairOverrideForm(members=members)
        if attendance_form is None and started:
            attendance_form = AttendanceForm(
                members=members, recorded=selectors.attendance_for(meeting=meeting)
            )
    context.update(override_form=override_form, attendance_form=attendance_form)
    return render(request, "meetings/detail.html", context, status=status)


@login_required
@with_community
def meeting_detail(request, community, membership, meeting_id):
    meeting = _meeting_or_404(community, meeting_id)
    return _detail_page(request, community, membership, meeting)


@require_POST
@login_required
@with_community
def meeting_answer(request, community, membership, meeting_id):
    meeting = _meeting_or_404(community, meeting_id)
    if membership is None or not membership.is_active:
        return _refused(request, community, _("Only this community's members can do that."))
    form = AnswerForm(request.POST)
    if form.is_valid():
        _answer, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.answer_set(
                user=request.user,
                meeting=meeting,
                response=form.cleaned_data["response"],
                note=form.cleaned_data["note"],
            ),
        )
        if refusal:
            return refusal
        if not form.errors:
            messages.success(request, _("Your answer is saved."))
            return redirect(_meeting_url(community, meeting))
    return _detail_page(request, community, membership, meeting, answer_form=form, status=400)


# Answer links: the invitation's yes / no / maybe, signed in or not ------------------------

# Refusals of a genuine link that no longer works are 410 Gone, as an invitation link's
# are; a link that never was valid is 400; someone else's, while signed in, 403.
ANSWER_LINK_STATUS = {"other_user": 403, "not_member": 410, "cancelled": 410, "started": 410}


def _as_member(request, member, page):
    """Render `page()` as the link's member reads the site (language and zone) when the
    visitor is not signed in; one who is signed in has their own already."""
    if member is None or request.user.is_authenticated:
        return page()
    with translation.override(member.language), timezone.override(ZoneInfo(member.timezone)):
        response = page()
    response["Content-Language"] = member.language
    return response


def _answer_link_refused(request, *, code, message, member=None, meeting=None):
    return _as_member(
        request,
        member,
        lambda: render(
            request,
            "meetings/answer_link_refused.html",
            {"message": message, "meeting": meeting},
            status=ANSWER_LINK_STATUS.get(code, 400),
        ),
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def answer_link(request, slug, meeting_id, token):
    """An invitation's yes / no / maybe link; the signed token is the credential, so no
    sign-in is needed. Opening it (GET, as mail scanners do) only shows a button; pressing
    it (POST, with the CSRF cookie's token) saves the answer.

    Refused with a page saying why, changing nothing: 400 for a link that is not ours,
    is for another meeting or carries no answer; 403 when someone else is signed in; 410
    once the meeting has started or is cancelled or the member has left; 404 when the
    meeting is not in the community the address names."""
    try:
        link = selectors.answer_link_get(
            slug=slug, meeting_id=meeting_id, token=token, viewer=request.user
        )
    except selectors.MeetingNotFound:
        raise Http404(_("No such meeting in this community.")) from None
    except selectors.AnswerLinkError as error:
        return _answer_link_refused(
            request,
            code=error.code,
            message=error.message,
            member=error.user,
            meeting=error.meeting,
        )
    context = {"community": link.meeting.community, "meeting": link.meeting, "link": link}
    if request.method != "POST":
        return _as_member(
            request, link.user, lambda: render(request, "meetings/answer_link.html", context)
        )
    try:
        answer = services.answer_set(
            user=link.user, meeting=link.meeting, response=link.response, note=link.note
        )
    except services.MeetingError as error:
        # Cancelled, started or left between the check and the write.
        return _answer_link_refused(
            request,
            code=error.code,
            message=error.message,
            member=link.user,
            meeting=None if error.code == "not_member" else link.meeting,
        )
    return _as_member(
        request,
        link.user,
        lambda: render(request, "meetings/answer_link_saved.html", {**context, "answer": answer}),
    )


@login_required
@manager_view
def meeting_create(request, community, membership):
    form = MeetingForm(_form_data(request), community=community)
    if form.is_bound and form.is_valid():
        meeting, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.meeting_create(
                actor=request.user, community=community, **form.service_fields()
            ),
        )
        if refusal:
            return refusal
        if meeting is not None:
            messages.success(request, _("The meeting is planned."))
            return redirect(_meeting_url(community, meeting))
    return render(
        request,
        "meetings/meeting_form.html",
        {"form": form, "community": community},
        status=400 if form.errors else 200,
    )


@login_required
@manager_view
def meeting_edit(request, community, membership, meeting_id):
    meeting = _meeting_or_404(community, meeting_id)
    form = MeetingForm(_form_data(request), community=community, meeting=meeting)
    if form.is_bound and form.is_valid():
        changed, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.meeting_update(
                actor=request.user, meeting=meeting, **form.service_fields()
            ),
        )
        if refusal:
            return refusal
        if changed is not None:
            messages.success(
                request, _("The meeting is saved; the rest of its series is not changed.")
            )
            return redirect(_meeting_url(community, meeting))
    return render(
        request,
        "meetings/meeting_form.html",
        {"form": form, "community": community, "meeting": meeting},
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
@manager_view
def meeting_cancel(request, community, membership, meeting_id):
    meeting = _meeting_or_404(community, meeting_id)
    return _act(
        request,
        community,
        lambda: services.meeting_cancel(actor=request.user, meeting=meeting),
        success=_("The meeting is cancelled."),
        back=_meeting_url(community, meeting),
    )


def _emails_act(request, community, meeting_id, service, *, none: str, counted):
    """Call an email service of a meeting that returns how many it queued; say so."""
    meeting = _meeting_or_404(community, meeting_id)
    return _act(
        request,
        community,
        lambda: service(actor=request.user, meeting=meeting),
        success=lambda count: counted(count) % {"count": count} if count else none,
        back=_meeting_url(community, meeting) + "#emails-heading",
    )


@require_POST
@login_required
@manager_view
def invitations_send(request, community, membership, meeting_id):
    return _emails_act(
        request,
        community,
        meeting_id,
        services.invitations_send,
        none=_("Every member has this meeting's invitation already."),
        counted=lambda count: ngettext(
            "The invitation is on its way to %(count)d member.",
            "The invitations are on their way to %(count)d members.",
            count,
        ),
    )


@require_POST
@login_required
@manager_view
def emails_retry(request, community, membership, meeting_id):
    return _emails_act(
        request,
        community,
        meeting_id,
        services.meeting_emails_retry,
        none=_("No email about this meeting has failed."),
        counted=lambda count: ngettext(
            "%(count)d email will be tried again now.",
            "%(count)d emails will be tried again now.",
            count,
        ),
    )


@require_POST
@login_required
@manager_view
def chair_confirm(request, community, membership, meeting_id):
    meeting = _meeting_or_404(community, meeting_id)
    return _act(
        request,
        community,
        lambda: services.chair_confirm(actor=request.user, meeting=meeting),
        success=_("The chair is confirmed and told."),
        back=_meeting_url(community, meeting),
    )


@require_POST
@login_required
@manager_view
def chair_override(request, community, membership, meeting_id):
    meeting = _meeting_or_404(community, meeting_id)
    form = ChairOverrideForm(request.POST, members=community_members(community=community))
    if form.is_valid():
        _meeting, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.chair_override(
                actor=request.user, meeting=meeting, user=form.cleaned_data["chair"]
            ),
        )
        if refusal:
            return refusal
        if not form.errors:
            messages.success(
                request,
                _("%(name)s now chairs this meeting.")
                % {"name": form.cleaned_data["chair"].display_name},
            )
            return redirect(_meeting_url(community, meeting))
    return _detail_page(request, community, membership, meeting, override_form=form, status=400)


@require_POST
@login_required
@manager_view
def attendance_save(request, community, membership, meeting_id):
    meeting = _meeting_or_404(community, meeting_id)
    form = AttendanceForm(
        request.POST,
        members=community_members(community=community),
        recorded=selectors.attendance_for(meeting=meeting),
    )

    def record():
        # All or nothing: one refusal leaves every member's attendance as it was.
        with transaction.atomic():
            for user, status in form.changes():
                services.attendance_set(
                    actor=request.user, meeting=meeting, user=user, status=status
                )

    if form.is_valid():
        _result, refusal = _attempt(request, community, form, record)
        if refusal:
            return refusal
        if not form.errors:
            messages.success(request, _("Attendance is saved."))
            return redirect(_meeting_url(community, meeting))
    return _detail_page(request, community, membership, meeting, attendance_form=form, status=400)


@login_required
@with_community
def handover(request, community, membership, meeting_id):
    meeting = _meeting_or_404(community, meeting_id)
    can_manage = community_can_manage(user=request.user, membership=membership)
    is_chair = meeting.chair_id == request.user.pk and meeting.chair_confirmed_at is not None
    if not (can_manage or is_chair):
        return _refused(
            request,
            community,
            _("Only the meeting's confirmed chair and the managers see its handover page."),
        )
    return render(
        request,
        "meetings/handover.html",
        {
            "community": community,
            "meeting": meeting,
            "is_chair": is_chair,
            "chair_zone": meeting.chair.timezone if meeting.chair else meeting.timezone,
            **selectors.handover_context(meeting=meeting, user=request.user),
        },
    )


# Series ----------------------------------------------------------------------------------


@login_required
@manager_view
def series_list(request, community, membership):
    return render(
        request,
        "meetings/series_list.html",
        {"community": community, "series_list": selectors.series_list(community=community)},
    )


def _series_page(request, community, series=None):
    form = SeriesForm(_form_data(request), community=community, series=series)
    preview = None
    if form.is_bound and form.is_valid():
        fields = form.service_fields()
        if "preview" in request.POST:
            preview, refusal = _attempt(
                request,
                community,
                form,
                lambda: services.series_preview(community=community, **fields),
            )
        elif series is None:
            saved, refusal = _attempt(
                request,
                community,
                form,
                lambda: services.series_create(actor=request.user, community=community, **fields),
            )
        else:
            saved, refusal = _attempt(
                request,
                community,
                form,
                lambda: services.series_update(actor=request.user, series=series, **fields),
            )
        if refusal:
            return refusal
        if preview is None and not form.errors:
            _series, result = saved
            messages.success(
                request,
                _(
                    "The series is saved. Meetings created: %(created)s; changed: "
                    "%(updated)s; cancelled: %(cancelled)s."
                )
                % {
                    "created": result.created,
                    "updated": result.updated,
                    "cancelled": result.cancelled,
                },
            )
            return redirect("meetings:series_list", slug=community.slug)
    return render(
        request,
        "meetings/series_form.html",
        {
            "form": form,
            "community": community,
            "series": series,
            "preview": preview,
            "preview_zone": form.cleaned_data["timezone"] if preview else None,
        },
        status=400 if form.errors else 200,
    )


@login_required
@manager_view
def series_create(request, community, membership):
    return _series_page(request, community)


@login_required
@manager_view
def series_edit(request, community, membership, series_id):
    try:
        series = selectors.series_get(community=community, series_id=series_id)
    except selectors.SeriesNotFound:
        raise Http404(_("No such series in this community.")) from None
    return _series_page(request, community, series)


# The rota --------------------------------------------------------------------------------


def _rota_page(request, community, membership, *, swap_form=None, status=200):
    now = timezone.now()
    user = request.user
    can_manage = community_can_manage(user=user, membership=membership)
    is_member = membership is not None and membership.is_active
    turns = selectors.rota_turns(community=community, now=now)
    context = {
        "community": community,
        "membership": membership if is_member else None,
        "can_manage": can_manage,
        "turns": turns,
        "fairness": selectors.rota_fairness(community=community, now=now),
    }
    if is_member:
        mine = [t for t in turns if t.chair is not None and t.chair.pk == user.pk]
        theirs = [t for t in turns if t.chair is not None and t.chair.pk != user.pk]
        if mine and theirs:
            context["swap_form"] = swap_form or SwapForm(mine=mine, theirs=theirs)
        context["swaps"] = list(selectors.swaps_open(community=community, user=user))
    if can_manage:
        log = Paginator(selectors.chair_log(community=community), LOG_PER_PAGE)
        context["log"] = log.get_page(request.GET.get("log"))
    return render(request, "meetings/rota.html", context, status=status)


def _rota_url(community) -> str:
    return reverse("meetings:rota", kwargs={"slug": community.slug})


@login_required
@members_view
def rota(request, community, membership):
    return _rota_page(request, community, membership)


@require_POST
@login_required
@members_view
def rota_willing(request, community, membership):
    willing = request.POST.get("willing") == "yes"
    _membership, refusal = perform(
        request,
        community,
        lambda: services.chair_willing_set(user=request.user, community=community, willing=willing),
    )
    if refusal:
        return refusal
    if willing:
        messages.success(request, _("You are in the chair's rota."))
    else:
        messages.success(request, _("You are out of the chair's rota; your turns go to others."))
    return redirect(_rota_url(community))


@require_POST
@login_required
@members_view
def swap_propose(request, community, membership):
    turns = selectors.rota_turns(community=community)
    form = SwapForm(
        request.POST,
        mine=[t for t in turns if t.chair is not None and t.chair.pk == request.user.pk],
        theirs=[t for t in turns if t.chair is not None and t.chair.pk != request.user.pk],
    )
    if form.is_valid():
        swap, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.swap_propose(
                user=request.user,
                meeting=form.cleaned_data["meeting"],
                partner_meeting=form.cleaned_data["partner_meeting"],
            ),
        )
        if refusal:
            return refusal
        if swap is not None:
            messages.success(
                request,
                _("Your proposal is sent to %(name)s.") % {"name": swap.partner.display_name},
            )
            return redirect(_rota_url(community))
    return _rota_page(request, community, membership, swap_form=form, status=400)


@require_POST
@login_required
@members_view
def swap_decide(request, community, membership, swap_id, decision):
    swap = get_object_or_404(ChairSwap, pk=swap_id, community=community)
    if decision == "withdraw":
        action = lambda: services.swap_withdraw(user=request.user, swap=swap)  # noqa: E731
        success = _("Your proposal is withdrawn.")
    else:
        accept = decision == "accept"
        action = lambda: services.swap_answer(user=request.user, swap=swap, accept=accept)  # noqa: E731
        success = _("The turns are swapped.") if accept else _("You declined the swap.")
    return _act(request, community, action, success=success, back=_rota_url(community))


# Calendars -------------------------------------------------------------------------------

# How long a calendar app (never a shared cache) may keep a feed without asking again;
# shorter than its REFRESH-INTERVAL, so a change shows at the app's next refresh.
FEED_MAX_AGE = 15 * 60


def _calendar_response(request, content: bytes, *, filename: str, attachment: bool, max_age=0):
    """An iCalendar document with an ETag (a hash of its bytes): a conditional GET or
    HEAD with that ETag gets 304 and no body."""
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(attachment, filename)
    response["ETag"] = quote_etag(hashlib.sha256(content).hexdigest())
    patch_cache_control(response, private=True, max_age=max_age)
    return get_conditional_response(request, etag=response["ETag"], response=response)


@require_safe
def calendar_feed(request, token):
    """A subscription feed. No sign-in: calendar apps cannot, so the secret token in the
    address is the credential, and every refusal is the same 404."""
    feed = selectors.feed_by_token(token)
    if feed is None:
        raise Http404(_("No such calendar address. It may have been reset."))
    return _calendar_response(
        request,
        selectors.feed_ics(feed=feed),
        filename=f"{feed.community.slug if feed.community else 'my-meetings'}.ics",
        attachment=False,
        max_age=FEED_MAX_AGE,
    )


@dataclass(frozen=True)
class FeedAddress:
    """A feed as its page shows it: the address to paste, and the same as a webcal link."""

    feed: CalendarFeed
    url: str
    webcal: str


def _address(request, feed) -> FeedAddress:
    url = request.build_absolute_uri(reverse("meetings:calendar_feed", args=[feed.token]))
    return FeedAddress(feed, url, "webcal://" + url.split("://", 1)[1])


@never_cache  # its addresses are credentials: not kept for the browser's back button
@login_required
def calendar_subscriptions(request):
    """The member's subscription addresses, made on first view: the page is theirs alone
    and showing it twice makes nothing new."""
    feeds = services.feeds_ensure(user=request.user)
    return render(
        request,
        "meetings/calendar/subscriptions.html",
        {"addresses": [_address(request, feed) for feed in feeds]},
    )


@require_POST
@login_required
def calendar_reset(request, feed_id):
    feed = get_object_or_404(
        CalendarFeed.objects.select_related("community"), pk=feed_id, user=request.user
    )
    try:
        services.feed_reset(user=request.user, community=feed.community)
    except services.MeetingError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _(
                "This calendar has a new address; the old one no longer works. Subscribe "
                "again with the new one in your calendar app."
            ),
        )
    return redirect(f"{reverse('meetings:calendar_subscriptions')}#feed-{feed.pk}")


@login_required
@with_community
def meeting_ics(request, community, membership, meeting_id):
    """One meeting to add to a calendar by hand; for members and site staff, like the
    meeting's links (members_view would say "chair rota" when it refuses)."""
    if not community_can_read(user=request.user, membership=membership):
        return _refused(
            request, community, _("Only this community's members can add its meetings.")
        )
    meeting = _meeting_or_404(community, meeting_id)
    return _calendar_response(
        request,
        selectors.meeting_ics(meeting=meeting, reader=request.user),
        filename=f"meeting-{meeting.pk}.ics",
        attachment=True,
    )
