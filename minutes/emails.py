"""The minutes' email, rendered for one member: their language and zone, the minutes'
HTML (markdown.render, the only way Markdown becomes HTML) and text, links to the
recording and the attachments, the next meeting's calendar file. Reads only; the
distribution service queues what this returns in the outbox."""

from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.models import User
from meetings import selectors as meeting_selectors
from meetings.models import Meeting

from . import selectors
from .markdown import render
from .models import Attachment, Minutes, MinutesRevision


def minutes_message(
    *,
    minutes: Minutes,
    revision: MinutesRevision,
    user: User,
    attachments: list[Attachment],
    next_meeting: Meeting | None,
) -> dict:
    """`user`'s email of `revision`: subject, text, HTML and, when the community has a
    next meeting, its calendar as an .ics file (the same event, with the same UID, as its
    invitation and the feeds: opening it adds or refreshes that one entry)."""
    meeting = minutes.meeting
    community = meeting.community
    context = {
        "user": user,
        "meeting": meeting,
        "community": community,
        "revision": revision,
        "minutes_html": render(revision.body),
        "minutes_text": revision.body,
        "url": selectors.minutes_url(minutes),
        "recording_url": minutes.recording_url,
        "attachments": [(a, selectors.attachment_url(a, community=community)) for a in attachments],
        "next_meeting": next_meeting,
    }
    with translation.override(user.language), timezone.override(user.timezone):
        subject = " ".join(render_to_string("minutes/emails/minutes_subject.txt", context).split())
        body = render_to_string("minutes/emails/minutes.txt", context)
        html = render_to_string("minutes/emails/minutes.html", context)
    message = {"subject": subject, "body": body, "html": html}
    if next_meeting is not None:
        ics = meeting_selectors.meeting_ics(meeting=next_meeting, reader=user)
        message["attachments"] = [
            {
                "filename": f"meeting-{next_meeting.pk}.ics",
                "content": ics.decode(),
                "mimetype": "text/calendar; charset=UTF-8",
            }
        ]
    return message
