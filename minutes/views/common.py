"""What the minutes' pages share: refusals, the meeting and its minutes or 404, and a
service call whose outcome is a message on the next page."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from communities.http import refusal_response
from communities.services import CommunityActionError
from meetings.selectors import MeetingNotFound, meeting_get

from .. import selectors, services


def refused(request, community, message):
    return refusal_response(
        request, community, CommunityActionError(message, code="forbidden", forbidden=True)
    )


def meeting_or_404(community, meeting_id):
    try:
        return meeting_get(community=community, meeting_id=meeting_id)
    except MeetingNotFound:
        raise Http404(_("No such meeting in this community.")) from None


def minutes_or_404(meeting):
    minutes = selectors.minutes_of(meeting=meeting)
    if minutes is None:
        raise Http404(_("These minutes are not drafted yet: the meeting has not ended."))
    return minutes


def act(request, community, action, *, success, back: str):
    """Call a service; its refusal becomes a message on the page (403 when forbidden);
    `success` is the message, or makes it from the service's result."""
    try:
        result = action()
    except CommunityActionError as error:
        if error.forbidden or not isinstance(error, services.MinutesError):
            return refusal_response(request, community, error)
        messages.error(request, error.message)
    else:
        messages.success(request, success(result) if callable(success) else success)
    return redirect(back)
