"""The room page and the managers' moderation queue: HTTP plumbing only."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from communities.selectors import (
    CommunityNotFound,
    community_can_manage,
    community_can_read,
    community_get_for_user,
)

from . import selectors, services
from .models import BODY_MAX_LENGTH, REASON_MAX_LENGTH, Message


def _community(request, slug):
    try:
        return community_get_for_user(user=request.user, slug=slug)
    except CommunityNotFound:
        raise Http404(_("No such community.")) from None


@login_required
def room(request, slug):
    community, membership = _community(request, slug)
    if not community_can_read(user=request.user, membership=membership):
        return _refused(
            request,
            community,
            _("Only this community's members read its chat room. Join it first."),
        )
    chat_room = services.room_get_or_create_for_community(community=community)
    return render(
        request,
        "rooms/room.html",
        {
            "community": community,
            "room": chat_room,
            "body_max": BODY_MAX_LENGTH,
            "reason_max": REASON_MAX_LENGTH,
        },
    )


def _refused(request, community, message):
    return render(
        request,
        "communities/refused.html",
        {"community": community, "message": message},
        status=403,
    )


def _for_managers(request, slug):
    """The community, and a refusal to return instead when the user does not manage it."""
    community, membership = _community(request, slug)
    if community_can_manage(user=request.user, membership=membership):
        return community, None
    return community, _refused(request, community, _("Only this community's managers can do that."))


@login_required
def moderation(request, slug):
    community, refusal = _for_managers(request, slug)
    if refusal:
        return refusal
    queue = selectors.moderation_queue(community=community)
    return render(request, "rooms/moderation.html", {"community": community, "queue": queue})


@require_POST
@login_required
def moderation_act(request, slug, pk, action):
    community, refusal = _for_managers(request, slug)
    if refusal:
        return refusal
    message = get_object_or_404(Message, pk=pk, room__community=community)
    try:
        if action == "dismiss":
            services.reports_dismiss(user=request.user, message=message)
        else:
            services.message_hide(
                user=request.user,
                room_id=message.room_id,
                seq=message.seq,
                hidden=action == "hide",
            )
    except services.RoomError as error:
        messages.error(request, error.detail)
    else:
        messages.success(
            request,
            {
                "hide": _("The message is hidden from the room."),
                "restore": _("The message is back in the room."),
                "dismiss": _("The reports are closed; the message stays."),
            }[action],
        )
    return redirect("rooms:moderation", slug=community.slug)
