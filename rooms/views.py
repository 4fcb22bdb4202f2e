"""The room page and the managers' moderation queue: HTTP plumbing only."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from communities.http import manager_view, refusal_response, with_community
from communities.selectors import community_can_read
from communities.services import CommunityActionError

from . import selectors, services
from .models import BODY_MAX_LENGTH, REASON_MAX_LENGTH, Message


def _not_member(request, community):
    return refusal_response(
        request,
        community,
        CommunityActionError(
            _("Only this community's members read its chat room. Join it first."),
            code="not_member",
            forbidden=True,
        ),
    )


def _room_page(request, community, chat_room):
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


@login_required
@with_community
def room(request, community, membership):
    if not community_can_read(user=request.user, membership=membership):
        return _not_member(request, community)
    # Made with the community (communities.hooks); a page view never writes.
    chat_room = selectors.community_room(community=community)
    if chat_room is None:
        raise Http404(_("This community has no chat room."))
    return _room_page(request, community, chat_room)


@login_required
@with_community
def room_detail(request, community, membership, room_id):
    """Any room of the community (a meeting's side chat), read under the socket's rule."""
    try:
        chat_room = selectors.room_of_community(
            user=request.user, community=community, membership=membership, room_id=room_id
        )
    except selectors.RoomNotFound:
        raise Http404(_("No such room in this community.")) from None
    except selectors.NotRoomMember:
        return _not_member(request, community)
    return _room_page(request, community, chat_room)


@login_required
@manager_view
def moderation(request, community, membership):
    queue = selectors.moderation_queue(community=community)
    return render(request, "rooms/moderation.html", {"community": community, "queue": queue})


@require_POST
@login_required
@manager_view
def moderation_act(request, community, membership, pk, action):
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
