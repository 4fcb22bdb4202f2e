"""The meetings' emails, rendered for one member: their language, their zone, their own
calendar entry. Reads only; the services queue what these return in the outbox."""

from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.models import User

from . import ical, selectors
from .enums import MailKind
from .models import Meeting


def invitation_message(*, meeting: Meeting, user: User, kind: str, now) -> dict:
    """`user`'s invitation, update or cancellation for `meeting` as it is now: subject,
    text, HTML and the calendar (`text/calendar; method=...`, equal to its METHOD)."""
    method = ical.CANCEL if kind == MailKind.CANCELLATION else ical.REQUEST
    # A cancellation (also of a meeting that goes on, to a member who left) says no more
    # than which meeting goes.
    sections = (
        selectors.invitation_sections(meeting=meeting, reader=user)
        if method == ical.REQUEST
        else []
    )
    calendar = ical.invitation_calendar(
        selectors.calendar_event(meeting=meeting, reader=user, stamp=now, sections=sections),
        host=selectors.calendar_host(),
        attendee=ical.Person(user.email, user.display_name),
        method=method,
    )
    context = {
        "user": user,
        "meeting": meeting,
        "community": meeting.community,
        "kind": kind,
        # A cancellation of a meeting that goes on: this member left the community.
        "withdrawn": method == ical.CANCEL and not meeting.is_cancelled,
        "url": selectors.meeting_url(meeting),
        "sections": sections,
        "answer_links": (
            selectors.answer_links(meeting=meeting, user=user) if method == ical.REQUEST else {}
        ),
    }
    with translation.override(user.language), timezone.override(user.timezone):
        subject = " ".join(
            render_to_string("meetings/email/invitation_subject.txt", context).split()
        )
        body = render_to_string("meetings/email/invitation.txt", context)
        html = render_to_string("meetings/email/invitation.html", context)
    return {
        "subject": subject,
        "body": body,
        "html": html,
        "alternatives": [
            {
                "content": ical.serialize(calendar).decode(),
                "mimetype": f"text/calendar; method={method}; charset=UTF-8",
            }
        ],
    }
