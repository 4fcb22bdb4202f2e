"""Distribution of approved minutes to every member, the recording's link and the files
staff attach to the meeting.

Each service checks the actor's permission itself and raises `MinutesError` (a message for
people, a stable `code`), `CommunityActionError` (not a manager) or `CommunityNotFound` (an
invitation-only community the actor may not see). On refusal nothing changes.
"""

import zipfile
from datetime import datetime
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import URLValidator
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.notifications import email_queue
from communities.enums import MembershipStatus
from communities.selectors import community_can_manage
from communities.services import manager_require
from meetings.models import Meeting
from meetings.selectors import meeting_following
from outbox.services import outbox_retry
from rooms.selectors import community_room
from rooms.services import system_message_post

from .. import selectors
from ..emails import minutes_message
from ..enums import MailKind, MinutesStatus
from ..models import TITLE_LENGTH, URL_LENGTH, Attachment, Minutes, MinutesRevision
from .records import MinutesError, _latest, _visible_membership

# Attachments ---------------------------------------------------------------------------

ZIP = b"PK\x03\x04"


def _office(folder: str):
    """An Office Open XML file is a zip with its content types and its part's folder;
    reading the zip's directory is cheap (it sits at the end of the file)."""

    def check(head: bytes, upload: UploadedFile) -> bool:
        if not head.startswith(ZIP):
            return False
        try:
            upload.seek(0)
            names = zipfile.ZipFile(upload).namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return False
        finally:
            upload.seek(0)
        return "[Content_Types].xml" in names and any(n.startswith(folder) for n in names)

    return check


def _starts(*signatures: bytes):
    return lambda head, upload: head.startswith(signatures)


def _text(head: bytes, upload: UploadedFile) -> bool:
    # Text has no NUL byte; a binary file passed off as .txt or .csv almost always has.
    return b"\x00" not in head


# extension: (the type it is served as, what its first bytes must look like)
ALLOWED_TYPES = {
    "pdf": ("application/pdf", _starts(b"%PDF-")),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _office("word/"),
    ),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _office("xl/")),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _office("ppt/"),
    ),
    "png": ("image/png", _starts(b"\x89PNG\r\n\x1a\n")),
    "jpg": ("image/jpeg", _starts(b"\xff\xd8\xff")),
    "jpeg": ("image/jpeg", _starts(b"\xff\xd8\xff")),
    "txt": ("text/plain", _text),
    "csv": ("text/csv", _text),
}
SNIFF_BYTES = 8192


def _check_upload(upload) -> tuple[str, str]:
    """(the file's name as given, the type it is served as), or refused."""
    if not isinstance(upload, UploadedFile):
        raise MinutesError(_("Choose a file."), code="no_file", field="file")
    filename = PurePath(str(upload.name or "")).name[:255]
    extension = PurePath(filename).suffix.lower().removeprefix(".")
    if extension not in ALLOWED_TYPES:
        allowed = ", ".join(sorted({e for e in ALLOWED_TYPES if e != "jpeg"}))
        raise MinutesError(
            _("This type of file cannot be attached. Allowed: %(types)s.") % {"types": allowed},
            code="bad_type",
            field="file",
        )
    limit = settings.MINUTES_ATTACHMENT_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise MinutesError(
            _("The file is too large: at most %(limit)s.") % {"limit": filesizeformat(limit)},
            code="too_large",
            field="file",
        )
    if upload.size == 0:
        raise MinutesError(_("The file is empty."), code="empty", field="file")
    mimetype, looks_right = ALLOWED_TYPES[extension]
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    if not looks_right(head, upload):
        raise MinutesError(
            _("This file's content is not a .%(extension)s file.") % {"extension": extension},
            code="bad_content",
            field="file",
        )
    return filename, mimetype


@transaction.atomic
def attachment_add(
    *,
    actor: User,
    meeting: Meeting,
    upload: UploadedFile,
    title: str = "",
    now: datetime | None = None,
) -> Attachment:
    """A manager keeps a file with `meeting` for its members: one of the allowed types
    (its extension and its first bytes agree), at most MINUTES_ATTACHMENT_MAX_BYTES. Its
    title defaults to the file's name. Stored under MEDIA_ROOT's private folder."""
    now = now or timezone.now()
    meeting = Meeting.objects.select_related("community").get(pk=meeting.pk)
    manager_require(actor=actor, community=meeting.community)
    filename, mimetype = _check_upload(upload)
    title = " ".join(str(title or "").split()) or filename
    if len(title) > TITLE_LENGTH:
        raise MinutesError(
            _("At most %(limit)d characters.") % {"limit": TITLE_LENGTH},
            code="too_long",
            field="title",
        )
    attachment = Attachment(
        meeting=meeting,
        title=title,
        filename=filename,
        content_type=mimetype,
        size=upload.size,
        uploaded_by=actor,
        uploaded_at=now,
    )
    attachment.file.save(filename, upload, save=False)
    stored = attachment.file.name
    # The file is written before the row: if the row cannot be saved, the file goes too.
    # (A rollback of the caller's transaction after this leaves an unreferenced file
    # under its random name, never reachable through a view.)
    try:
        attachment.save()
    except Exception:
        attachment.file.storage.delete(stored)
        raise
    return attachment


@transaction.atomic
def attachment_delete(*, actor: User, attachment: Attachment) -> None:
    """A manager removes a meeting's file (the stored file goes once the row has)."""
    attachment = Attachment.objects.select_related("meeting__community").get(pk=attachment.pk)
    manager_require(actor=actor, community=attachment.meeting.community)
    storage, name = attachment.file.storage, attachment.file.name
    attachment.delete()
    transaction.on_commit(lambda: storage.delete(name))


# The recording -------------------------------------------------------------------------

_url_check = URLValidator(schemes=["http", "https"])


@transaction.atomic
def minutes_recording_set(*, actor: User, minutes: Minutes, url: str) -> Minutes:
    """A manager sets (or, empty, clears) the link to the meeting's recording: http or
    https only, so it is safe as a link in the page and the email."""
    minutes = (
        Minutes.objects.select_for_update().select_related("meeting__community").get(pk=minutes.pk)
    )
    manager_require(actor=actor, community=minutes.meeting.community)
    url = str(url or "").strip()
    if url:
        try:
            _url_check(url)
        except ValidationError:
            raise MinutesError(
                _("Give the recording's web address (http:// or https://)."),
                code="bad_url",
                field="recording_url",
            ) from None
        if len(url) > URL_LENGTH:
            raise MinutesError(
                _("At most %(limit)d characters.") % {"limit": URL_LENGTH},
                code="too_long",
                field="recording_url",
            )
    if minutes.recording_url != url:
        minutes.recording_url = url
        minutes.save(update_fields=["recording_url"])
    return minutes


# Distribution --------------------------------------------------------------------------


def _can_distribute(actor: User, meeting: Meeting, membership) -> bool:
    if community_can_manage(user=actor, membership=membership):
        return True
    return membership is not None and membership.is_active and actor.pk == meeting.chair_id


def minutes_can_distribute(*, actor: User, meeting: Meeting) -> bool:
    """Who sends the minutes to the members: the meeting's chair (an active member), the
    community's managers and site staff."""
    if not actor.is_authenticated:
        return False
    return _can_distribute(actor, meeting, _visible_membership(actor, meeting))


def _members(meeting: Meeting):
    return User.objects.filter(
        is_active=True,
        memberships__community=meeting.community_id,
        memberships__status=MembershipStatus.ACTIVE,
    ).order_by("pk")


def _room_announce(minutes: Minutes, revision: MinutesRevision) -> None:
    """The community room's system message with the link, once per revision."""
    meeting = minutes.meeting
    community = meeting.community
    room = community_room(community=community)
    if room is None:
        return
    with translation.override(community.language), timezone.override(community.timezone):
        day = formats.date_format(timezone.localtime(meeting.starts_at), "DATE_FORMAT")
        body = gettext("The minutes of “%(title)s” (%(day)s) are out: %(url)s") % {
            "title": meeting.title,
            "day": day,
            "url": selectors.minutes_url(minutes),
        }
    system_message_post(room_id=room.pk, body=body, key=f"minutes:{minutes.pk}:r{revision.number}")


@transaction.atomic
def minutes_distribute(*, actor: User, minutes: Minutes, now: datetime | None = None) -> int:
    """The chair or a manager sends the approved minutes (their latest revision) to every
    active member: one email each through the outbox (kind "minutes", key the minutes,
    version the revision's number: exactly once per member per revision, however often
    asked and whatever happens to the worker), in the member's language and zone, with the
    links to the recording and the attachments and the next meeting's .ics. The revision
    is marked distributed and the community room told, once. Asking again sends only to
    members who have not had this revision (those who joined since). Returns how many
    emails were queued now. A draft is refused."""
    now = now or timezone.now()
    minutes = Minutes.objects.select_for_update().get(pk=minutes.pk)
    meeting = Meeting.objects.select_related("community", "chair").get(pk=minutes.meeting_id)
    minutes.meeting = meeting
    membership = _visible_membership(actor, meeting)
    if not _can_distribute(actor, meeting, membership):
        raise MinutesError(
            _("Only the meeting's chair and the managers can distribute its minutes."),
            code="not_distributor",
            forbidden=True,
        )
    revision = _latest(minutes)
    if revision is None or revision.status == MinutesStatus.DRAFT:
        raise MinutesError(
            _("These minutes are a draft: they must be approved before they are distributed."),
            code="not_approved",
        )
    emails = selectors.minutes_emails(minutes=minutes).filter(version=str(revision.number))
    before = emails.count()
    attachments = list(selectors.attachments_of(meeting=meeting))
    next_meeting = meeting_following(meeting=meeting)
    for user in _members(meeting):
        email_queue(
            user=user,
            kind=MailKind.MINUTES,
            key=selectors.minutes_mail_key(minutes),
            version=revision.number,
            **minutes_message(
                minutes=minutes,
                revision=revision,
                user=user,
                attachments=attachments,
                next_meeting=next_meeting,
            ),
        )
    if revision.status != MinutesStatus.DISTRIBUTED:
        revision.status, revision.distributed_at = MinutesStatus.DISTRIBUTED, now
        revision.save(update_fields=["status", "distributed_at"])
    _room_announce(minutes, revision)
    return emails.count() - before


@transaction.atomic
def minutes_emails_retry(*, actor: User, minutes: Minutes) -> int:
    """A manager queues the minutes' failed emails again. Returns how many."""
    minutes = Minutes.objects.select_related("meeting__community").get(pk=minutes.pk)
    manager_require(actor=actor, community=minutes.meeting.community)
    return outbox_retry(emails=selectors.minutes_emails(minutes=minutes))
