"""HTTP helpers for every app's community pages: find the community, refuse, call a service.

Apps above communities (rooms, meetings, ...) use these so that every page answers "not
found", "forbidden" and a refused action the same way.
"""

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from . import selectors, services
from .models import Community

T = TypeVar("T")


def with_community(view):
    """Resolve `slug` to a community the user may see (else 404) and pass it on, with the
    user's membership: `view(request, community, membership, ...)`."""

    @wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        try:
            community, membership = selectors.community_get_for_user(user=request.user, slug=slug)
        except selectors.CommunityNotFound:
            raise Http404(_("No such community.")) from None
        return view(request, community, membership, *args, **kwargs)

    return wrapper


def manager_view(view):
    """`with_community`, and only for those who manage it: 403 before anything else, so
    non-managers learn nothing about requests, members or invitations by their ids."""

    @with_community
    @wraps(view)
    def wrapper(request, community, membership, *args, **kwargs):
        if not selectors.community_can_manage(user=request.user, membership=membership):
            return refusal_response(request, community, services.manager_required_error())
        return view(request, community, membership, *args, **kwargs)

    return wrapper


def refusal_response(
    request: HttpRequest, community: Community, error: services.CommunityActionError
) -> HttpResponse:
    """A forbidden action gets a 403 page saying why; any other refusal goes back to the
    community's page with the reason as an error message."""
    if error.forbidden:
        return render(
            request,
            "communities/refused.html",
            {"community": community, "message": error.message},
            status=403,
        )
    messages.error(request, error.message)
    return redirect(community)


def perform(
    request: HttpRequest, community: Community, action: Callable[[], T]
) -> tuple[T, None] | tuple[None, HttpResponse]:
    """Call a service. Returns (its result, None), or (None, a response that shows why it
    was refused); a community the user may not see is a 404."""
    try:
        return action(), None
    except selectors.CommunityNotFound:
        raise Http404(_("No such community.")) from None
    except services.CommunityActionError as error:
        return None, refusal_response(request, community, error)
