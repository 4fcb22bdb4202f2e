"""Agenda pages: HTTP plumbing only (communities.http helpers, one service or selector each).

Who sees what: managers edit the community's standing agenda; members read each
meeting's agenda, which its confirmed chair and the managers edit until the meeting
starts; members propose topics, which managers and chairs choose or drop. An
invitation-only community's pages are 404 to others, as everywhere.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from communities.http import manager_view, refusal_response, with_community
from communities.selectors import community_can_manage, community_can_read, community_members
from communities.services import CommunityActionError
from meetings.selectors import MeetingNotFound, meeting_get
from rooms.models import BODY_MAX_LENGTH, REASON_MAX_LENGTH

from . import selectors, services
from .forms import (
    FocusForm,
    ItemAddForm,
    ItemForm,
    TemplateItemAddForm,
    TopicChooseForm,
    TopicForm,
    TurnForm,
    error_field,
)
from .models import LINE_LENGTH


def _refused(request, community, message):
    return refusal_response(
        request, community, CommunityActionError(message, code="forbidden", forbidden=True)
    )


def _attempt(request, community, form, action):
    """Call a service for a form. Returns (its result, None); a refusal goes on the form
    next to its field (result None, no response), or answers 403 when it is forbidden
    and 404 when the item is not on this agenda."""
    try:
        return action(), None
    except services.AgendaError as error:
        if error.code == "no_item":
            raise Http404(error.message) from None
        if error.forbidden:
            return None, refusal_response(request, community, error)
        form.add_error(error_field(form, error.field), error.message)
        return None, None
    except CommunityActionError as error:
        return None, refusal_response(request, community, error)


def _act(request, community, action, *, success, back: str):
    """Call a service that takes no form; its refusal becomes a message on the page."""
    try:
        action()
    except services.AgendaError as error:
        if error.code == "no_item":
            raise Http404(error.message) from None
        if error.forbidden:
            return refusal_response(request, community, error)
        messages.error(request, error.message)
    except CommunityActionError as error:
        return refusal_response(request, community, error)
    else:
        messages.success(request, success)
    return redirect(back)


def _item_fields(form) -> dict:
    return {"title": form.cleaned_data["title"], "minutes": form.cleaned_data["minutes"]}


# The standing agenda (managers) ----------------------------------------------------------


def _template_url(community) -> str:
    return reverse("agendas:template", kwargs={"slug": community.slug})


def _template_page(
    request, community, *, turn_form=None, add_form=None, item_form=None, status=200
):
    template = services.template_ensure(community=community)
    items = selectors.template_items(template=template)
    forms = [
        item_form if item_form is not None and item_form.item.pk == item.pk else ItemForm(item=item)
        for item in items
    ]
    return render(
        request,
        "agendas/template.html",
        {
            "community": community,
            "template": template,
            "rows": list(zip(items, forms, strict=True)),
            "timeline": selectors.template_timeline(template=template),
            "turn_form": turn_form or TurnForm(initial={"turn_seconds": template.turn_seconds}),
            "add_form": add_form or TemplateItemAddForm(present={i.kind for i in items}),
        },
        status=status,
    )


@login_required
@manager_view
def template_page(request, community, membership):
    return _template_page(request, community)


@require_POST
@login_required
@manager_view
def template_settings(request, community, membership):
    form = TurnForm(request.POST)
    if form.is_valid():
        template = services.template_ensure(community=community)
        _result, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.template_settings_set(
                actor=request.user,
                template=template,
                turn_seconds=form.cleaned_data["turn_seconds"],
            ),
        )
        if refusal:
            return refusal
        if not form.errors:
            messages.success(request, _("The roundtable turn's length is saved."))
            return redirect(_template_url(community))
    return _template_page(request, community, turn_form=form, status=400)


@require_POST
@login_required
@manager_view
def template_item_add(request, community, membership):
    template = services.template_ensure(community=community)
    present = {i.kind for i in selectors.template_items(template=template)}
    form = TemplateItemAddForm(request.POST, present=present)
    if form.is_valid():
        item, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.template_item_add(
                actor=request.user,
                template=template,
                kind=form.cleaned_data["kind"],
                **_item_fields(form),
            ),
        )
        if refusal:
            return refusal
        if item is not None:
            messages.success(request, _("“%(title)s” is added.") % {"title": item.title})
            return redirect(f"{_template_url(community)}#item-{item.pk}")
    return _template_page(request, community, add_form=form, status=400)


@require_POST
@login_required
@manager_view
def template_item(request, community, membership, item_id):
    """One item's form: save it (the default button), move it up or down, remove it."""
    template = services.template_ensure(community=community)
    action = request.POST.get("action", "save")
    back = _template_url(community)
    if action in ("up", "down"):
        return _act(
            request,
            community,
            lambda: services.template_item_move(
                actor=request.user, template=template, item_id=item_id, direction=action
            ),
            success=_("The item is moved."),
            back=f"{back}#item-{item_id}",
        )
    if action == "remove":
        return _act(
            request,
            community,
            lambda: services.template_item_remove(
                actor=request.user, template=template, item_id=item_id
            ),
            success=_("The item is removed."),
            back=back,
        )
    item = template.items.filter(pk=item_id).first()
    if item is None:
        raise Http404(_("There is no such item on this agenda."))
    form = ItemForm(request.POST, item=item)
    if form.is_valid():
        saved, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.template_item_update(
                actor=request.user, template=template, item_id=item_id, **_item_fields(form)
            ),
        )
        if refusal:
            return refusal
        if saved is not None:
            messages.success(request, _("“%(title)s” is saved.") % {"title": saved.title})
            return redirect(f"{back}#item-{item_id}")
    return _template_page(request, community, item_form=form, status=400)


# A meeting's agenda ----------------------------------------------------------------------


def _meeting_or_404(community, meeting_id):
    try:
        return meeting_get(community=community, meeting_id=meeting_id)
    except MeetingNotFound:
        raise Http404(_("No such meeting in this community.")) from None


def _agenda_url(community, meeting) -> str:
    return reverse("agendas:agenda", kwargs={"slug": community.slug, "meeting_id": meeting.pk})


def _readable(view):
    """The meeting (404 if not this community's) and its agenda (made on first use), for
    the community's members and site staff (others: 403)."""

    @wraps(view)
    def wrapper(request, community, membership, meeting_id, *args, **kwargs):
        if not community_can_read(user=request.user, membership=membership):
            return _refused(request, community, _("Only this community's members see its agendas."))
        meeting = _meeting_or_404(community, meeting_id)
        agenda = services.agenda_ensure(meeting=meeting)
        return view(request, community, membership, meeting, agenda, *args, **kwargs)

    return wrapper


def _editable(view):
    """`_readable`, and only for the agenda's editors (others: 403 before their form is
    read, so the reason they see is the one that matters)."""

    @_readable
    @wraps(view)
    def wrapper(request, community, membership, meeting, agenda, *args, **kwargs):
        if not services.agenda_can_edit(actor=request.user, meeting=meeting):
            return refusal_response(request, community, services.agenda_editor_error())
        return view(request, community, membership, meeting, agenda, *args, **kwargs)

    return wrapper


def _agenda_page(
    request,
    community,
    membership,
    meeting,
    agenda,
    *,
    focus_form=None,
    add_form=None,
    item_form=None,
    status=200,
):
    now = timezone.now()
    can_edit = (
        services.agenda_can_edit(actor=request.user, meeting=meeting)
        and not meeting.is_cancelled
        and not meeting.has_started(now)
    )
    agenda = selectors.agenda_of(meeting=meeting) or agenda
    timeline = selectors.agenda_timeline(agenda=agenda, now=now)
    rows = []
    for row in timeline.rows:
        form = None
        if can_edit:
            form = item_form if item_form is not None and item_form.item.pk == row.item.pk else None
            form = form or ItemForm(item=row.item)
        rows.append((row, form))
    context = {
        "community": community,
        "meeting": meeting,
        "agenda": agenda,
        "timeline": timeline,
        "rows": rows,
        "can_edit": can_edit,
        "can_manage": community_can_manage(user=request.user, membership=membership),
        "started": meeting.has_started(now),
        "new_members": list(selectors.agenda_new_members(meeting=meeting)),
    }
    if can_edit:
        members = list(community_members(community=community))
        context["focus_form"] = focus_form or FocusForm(members=members, agenda=agenda)
        context["add_form"] = add_form or ItemAddForm()
    return render(request, "agendas/agenda.html", context, status=status)


@login_required
@with_community
@_readable
def agenda_page(request, community, membership, meeting, agenda):
    return _agenda_page(request, community, membership, meeting, agenda)


@login_required
@with_community
@_readable
def live_page(request, community, membership, meeting, agenda):
    """The meeting live: the chair's console for whoever may run it, the member's view for
    everyone, the side chat alongside; meeting.js draws both from the socket's state."""
    # The turn under way, so its speaker (or whoever may run the meeting) finds the lines
    # already saved after a reload.
    turn = selectors.turn_current(meeting=meeting)
    is_manager = community_can_manage(user=request.user, membership=membership)
    runs = request.user.pk in (meeting.chair_id, meeting.backup_id) or is_manager
    if turn is not None and turn.user_id != request.user.pk and not runs:
        turn = None
    context = {
        "community": community,
        "meeting": meeting,
        "turn": turn,
        "turn_key": selectors.turn_key(turn) if turn else "",
        "room": meeting.room,
        "is_manager": is_manager,
        "line_max": LINE_LENGTH,
        # Who an action item can be for (the console's form).
        "members": [m.user for m in community_members(community=community)] if runs else [],
        "body_max": BODY_MAX_LENGTH,
        "reason_max": REASON_MAX_LENGTH,
    }
    return render(request, "agendas/live.html", context)


@require_POST
@login_required
@with_community
@_editable
def agenda_focus(request, community, membership, meeting, agenda):
    form = FocusForm(request.POST, members=community_members(community=community), agenda=agenda)
    if form.is_valid():
        saved, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.agenda_focus_set(
                actor=request.user, agenda=agenda, **form.cleaned_data
            ),
        )
        if refusal:
            return refusal
        if saved is not None:
            messages.success(request, _("The focus presentation is saved."))
            return redirect(_agenda_url(community, meeting) + "#focus-heading")
    return _agenda_page(
        request, community, membership, meeting, agenda, focus_form=form, status=400
    )


@require_POST
@login_required
@with_community
@_editable
def agenda_item_add(request, community, membership, meeting, agenda):
    form = ItemAddForm(request.POST)
    if form.is_valid():
        item, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.agenda_item_add(
                actor=request.user, agenda=agenda, **_item_fields(form)
            ),
        )
        if refusal:
            return refusal
        if item is not None:
            messages.success(request, _("“%(title)s” is added.") % {"title": item.title})
            return redirect(f"{_agenda_url(community, meeting)}#item-{item.pk}")
    return _agenda_page(request, community, membership, meeting, agenda, add_form=form, status=400)


@require_POST
@login_required
@with_community
@_editable
def agenda_item(request, community, membership, meeting, agenda, item_id):
    """One item's form: save it (the default button), move it up or down, remove it."""
    action = request.POST.get("action", "save")
    back = _agenda_url(community, meeting)
    if action in ("up", "down"):
        return _act(
            request,
            community,
            lambda: services.agenda_item_move(
                actor=request.user, agenda=agenda, item_id=item_id, direction=action
            ),
            success=_("The item is moved."),
            back=f"{back}#item-{item_id}",
        )
    if action == "remove":
        return _act(
            request,
            community,
            lambda: services.agenda_item_remove(actor=request.user, agenda=agenda, item_id=item_id),
            success=_("The item is removed."),
            back=back,
        )
    item = agenda.items.filter(pk=item_id).first()
    if item is None:
        raise Http404(_("There is no such item on this agenda."))
    form = ItemForm(request.POST, item=item)
    if form.is_valid():
        saved, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.agenda_item_update(
                actor=request.user, agenda=agenda, item_id=item_id, **_item_fields(form)
            ),
        )
        if refusal:
            return refusal
        if saved is not None:
            messages.success(request, _("“%(title)s” is saved.") % {"title": saved.title})
            return redirect(f"{back}#item-{item_id}")
    return _agenda_page(request, community, membership, meeting, agenda, item_form=form, status=400)


@require_POST
@login_required
@with_community
@_editable
def agenda_publish(request, community, membership, meeting, agenda):
    return _act(
        request,
        community,
        lambda: services.agenda_publish(actor=request.user, agenda=agenda),
        success=_("The agenda is published; members are told of every change from now on."),
        back=_agenda_url(community, meeting),
    )


# Topics for future meetings --------------------------------------------------------------


def _topics_url(community) -> str:
    return reverse("agendas:topics", kwargs={"slug": community.slug})


def _topics_page(request, community, membership, *, form=None, choose_form=None, status=200):
    user = request.user
    can_manage = community_can_manage(user=user, membership=membership)
    can_decide = services.topic_can_decide(actor=user, community=community)
    meetings = (
        selectors.topic_meetings(community=community, user=user, can_manage=can_manage)
        if can_decide
        else []
    )
    rows = []
    for topic in selectors.topics_open(community=community):
        chooser = None
        if meetings and topic.status == "proposed":
            mine = choose_form is not None and choose_form.prefix == f"topic-{topic.pk}"
            chooser = choose_form if mine else TopicChooseForm(meetings=meetings, topic=topic)
        rows.append((topic, chooser))
    return render(
        request,
        "agendas/topics.html",
        {
            "community": community,
            "rows": rows,
            "closed": selectors.topics_closed(community=community),
            "can_decide": can_decide,
            "form": form or TopicForm(),
        },
        status=status,
    )


@login_required
@with_community
@require_http_methods(["GET", "HEAD", "POST"])
def topics(request, community, membership):
    if not community_can_read(user=request.user, membership=membership):
        return _refused(
            request, community, _("Only this community's members see its proposed topics.")
        )
    if request.method != "POST":
        return _topics_page(request, community, membership)
    form = TopicForm(request.POST)
    if form.is_valid():
        topic, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.topic_propose(
                user=request.user,
                community=community,
                title=form.cleaned_data["title"],
                details=form.cleaned_data["details"],
            ),
        )
        if refusal:
            return refusal
        if topic is not None:
            messages.success(request, _("Thank you: your topic is proposed."))
            return redirect(_topics_url(community))
    return _topics_page(request, community, membership, form=form, status=400)


def _topic_or_404(community, topic_id):
    topic = selectors.topic_get(community=community, topic_id=topic_id)
    if topic is None:
        raise Http404(_("No such topic in this community."))
    return topic


@require_POST
@login_required
@with_community
def topic_choose(request, community, membership, topic_id):
    topic = _topic_or_404(community, topic_id)
    can_manage = community_can_manage(user=request.user, membership=membership)
    if not services.topic_can_decide(actor=request.user, community=community):
        return _refused(
            request,
            community,
            _("Only the managers and the meeting's confirmed chair decide on topics."),
        )
    meetings = selectors.topic_meetings(
        community=community, user=request.user, can_manage=can_manage
    )
    if not meetings:
        messages.error(request, _("There is no meeting to choose it at."))
        return redirect(_topics_url(community))
    form = TopicChooseForm(request.POST, meetings=meetings, topic=topic)
    if form.is_valid():
        chosen, refusal = _attempt(
            request,
            community,
            form,
            lambda: services.topic_choose(
                actor=request.user, topic=topic, meeting=form.cleaned_data["meeting"]
            ),
        )
        if refusal:
            return refusal
        if chosen is not None:
            if chosen.agenda is not None:
                messages.success(
                    request, _("The topic is chosen and on the next meeting's agenda.")
                )
            else:
                messages.success(
                    request, _("The topic is chosen: it goes on the next meeting's agenda.")
                )
            return redirect(_topics_url(community))
    return _topics_page(request, community, membership, choose_form=form, status=400)


@require_POST
@login_required
@with_community
def topic_drop(request, community, membership, topic_id):
    topic = _topic_or_404(community, topic_id)
    return _act(
        request,
        community,
        lambda: services.topic_drop(actor=request.user, topic=topic),
        success=_("The topic is dropped."),
        back=_topics_url(community),
    )
