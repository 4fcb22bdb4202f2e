"""Every write to rooms: messages, edits, moderation, reports, presence, typing.

Each service checks the user's right itself (the socket may have been opened before the
member left) and raises `RoomError` with a stable `code` on refusal; nothing changes then.
Events go out through `live.events` after the transaction commits.
"""

import math
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from communities.models import Community
from live.events import event_send_now, event_send_on_commit, frame_event, presence_event
from live.frames import text_is_clean

from .enums import MessageKind, RoomKind
from .errors import RoomError
from .models import (
    BODY_MAX_LENGTH,
    CLIENT_ID_MAX_LENGTH,
    REASON_MAX_LENGTH,
    Message,
    Presence,
    Report,
    Room,
    room_group,
)
from .selectors import message_frame, room_member_check, room_online

__all__ = ["RoomError"]


def room_get_or_create_for_community(*, community: Community) -> Room:
    room, _created = Room.objects.get_or_create(
        community=community,
        kind=RoomKind.COMMUNITY,
        defaults={"title": community.name},
    )
    room.community = community  # as given: reading it costs no query
    return room


def room_create(*, community: Community, kind: str, title: str) -> Room:
    """A new room, e.g. a meeting's side chat (the meetings app calls this)."""
    room = Room(community=community, kind=kind, title=title)
    room.full_clean()
    room.save()
    return room


# Characters that show nothing: a text of only these (and spaces) is empty.
_INVISIBLE = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def _is_invisible(text: str) -> bool:
    return all(
        char.isspace() or char in _INVISIBLE or unicodedata.category(char) == "Cf" for char in text
    )


def _clean_text(text: str) -> str:
    if not text_is_clean(text):
        raise RoomError(
            "invalid_text", _("Text may not hold control characters or unpaired surrogates.")
        )
    return text.strip()


def _clean_body(body: str) -> str:
    body = _clean_text(body)
    if not body or _is_invisible(body):
        raise RoomError("empty_body", _("A message needs some text."))
    if len(body) > BODY_MAX_LENGTH:
        raise RoomError(
            "body_too_long",
            _("A message holds at most %(max)d characters.") % {"max": BODY_MAX_LENGTH},
            max=BODY_MAX_LENGTH,
        )
    return body


def _check_rate(*, user: User, now) -> None:
    """At most N messages in S seconds per user, across tabs, rooms and processes.

    The caller holds the user's row lock, so two tabs cannot both slip under the limit."""
    window = timedelta(seconds=settings.ROOM_RATE_LIMIT_SECONDS)
    recent = Message.objects.filter(author=user, created_at__gt=now - window)
    if recent.count() >= settings.ROOM_RATE_LIMIT_MESSAGES:
        oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
        # Rounded up: a client that waits exactly this long is let through.
        retry = max(0.1, math.ceil((oldest + window - now).total_seconds() * 10) / 10)
        raise RoomError(
            "rate_limited",
            _("You are sending messages too fast. Wait a few seconds."),
            retry_after=retry,
        )


def message_send(*, user: User, room_id: int, body: str, client_id: str) -> tuple[Message, bool]:
    """Store a message, then broadcast `message.new` to the room after commit.

    Returns (message, created). Sending a `client_id` this user already sent in this room
    returns the original message and stores nothing (a database constraint guarantees it
    across processes and restarts).
    """
    room, _manager = room_member_check(user=user, room_id=room_id)
    # The author comes along: the socket builds the retry's answer outside a thread.
    sent = Message.objects.select_related("author").filter(
        room=room, author=user, client_id=client_id
    )
    existing = sent.first()
    if existing is not None:
        return existing, False
    body = _clean_body(body)
    try:
        with transaction.atomic():
            message = _message_insert(user=user, room=room, body=body, client_id=client_id)
    except IntegrityError:
        # A concurrent retry of the same send won the race; its row is the answer.
        existing = sent.first()
        if existing is None:
            raise
        return existing, False
    return message, True


def _message_insert(*, user: User, room: Room, body: str, client_id: str) -> Message:
    now = timezone.now()
    # Serialise this user's sends (the rate limit is exact across tabs and processes).
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
    _check_rate(user=user, now=now)
    return _message_store(
        room=room, author=user, kind=MessageKind.MEMBER, body=body, client_id=client_id, now=now
    )


def _message_store(*, room: Room, author, kind: str, body: str, client_id: str, now) -> Message:
    # The increment takes the room row's lock until commit: concurrent senders on any
    # process get consecutive numbers, and a rolled-back insert leaves no gap.
    Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + 1)
    seq = Room.objects.values_list("last_seq", flat=True).get(pk=room.pk)
    message = Message.objects.create(
        room=room,
        seq=seq,
        kind=kind,
        author=author,
        client_id=client_id,
        body=body,
        created_at=now,
    )
    event_send_on_commit(
        room_group(room.pk),
        frame_event(
            room_group(room.pk), {"type": "message.new", "message": message_frame(message)}, seq=seq
        ),
    )
    return message


@transaction.atomic
def system_message_post(*, room_id: int, body: str, key: str) -> Message:
    """The server's own message in a room (kind system, no author): e.g. a meeting's side
    chat saying the meeting or an item started. Once per `key` (asking again returns the
    first), numbered and sent like any message."""
    existing = Message.objects.filter(room_id=room_id, kind=MessageKind.SYSTEM, client_id=key)
    found = existing.first()
    if found is not None:
        return found
    room = Room.objects.get(pk=room_id)
    body = _clean_text(body)[:BODY_MAX_LENGTH]
    try:
        with transaction.atomic():
            return _message_store(
                room=room,
                author=None,
                kind=MessageKind.SYSTEM,
                body=body,
                client_id=key[:CLIENT_ID_MAX_LENGTH],
                now=timezone.now(),
            )
    except IntegrityError:
        return existing.get()


def _own_or_managed(*, user: User, room_id: int, seq: int, manage: bool = False):
    room, is_manager = room_member_check(user=user, room_id=room_id)
    message = (
        # `of=("self",)`: a system message has no author, and PostgreSQL cannot lock
        # the nullable side of the outer join that select_related makes of it.
        Message.objects.select_for_update(of=("self",))
        .select_related("author")
        .filter(room=room, seq=seq)
        .first()
    )
    if message is None:
        raise RoomError("not_found", _("There is no such message in this room."))
    if manage and not is_manager:
        raise RoomError("not_allowed", _("Only this community's managers can do that."))
    if not manage and message.author_id != user.pk:
        raise RoomError("not_author", _("You can only change your own messages."))
    return room, message


def _save_change(room: Room, message: Message, *fields: str) -> None:
    """Save a changed message and tell the room. `changed_at` lets a client that was away
    learn of changes to messages it already has (resume with `changed_since`)."""
    message.changed_at = timezone.now()
    message.save(update_fields=[*fields, "changed_at"])
    event_send_on_commit(
        room_group(room.pk),
        frame_event(
            room_group(room.pk), {"type": "message.updated", "message": message_frame(message)}
        ),
    )


@transaction.atomic
def message_edit(*, user: User, room_id: int, seq: int, body: str) -> Message:
    room, message = _own_or_managed(user=user, room_id=room_id, seq=seq)
    if message.deleted_at is not None or message.hidden_at is not None:
        raise RoomError("not_editable", _("This message was removed; it cannot be edited."))
    message.body = _clean_body(body)
    message.edited_at = timezone.now()
    _save_change(room, message, "body", "edited_at")
    return message


@transaction.atomic
def message_delete(*, user: User, room_id: int, seq: int) -> tuple[Message, bool]:
    """The author deletes their message: its place (seq) stays, its text goes. Returns
    (message, changed): deleting it again changes nothing and tells nobody."""
    room, message = _own_or_managed(user=user, room_id=room_id, seq=seq)
    if message.deleted_at is not None:
        return message, False
    message.deleted_at = timezone.now()
    _save_change(room, message, "deleted_at")
    return message, True


@transaction.atomic
def message_hide(
    *, user: User, room_id: int, seq: int, hidden: bool = True
) -> tuple[Message, bool]:
    """A manager hides a message from the room, or restores it. Returns (message,
    changed): hiding a hidden message (or restoring a visible one) tells nobody."""
    room, message = _own_or_managed(user=user, room_id=room_id, seq=seq, manage=True)
    if hidden and message.hidden_at is None:
        message.hidden_at = timezone.now()
        message.hidden_by = user
    elif not hidden and message.hidden_at is not None:
        message.hidden_at = None
        message.hidden_by = None
    else:
        return message, False
    _save_change(room, message, "hidden_at", "hidden_by")
    if not hidden:
        # Restoring closes the reports: a manager looked and decided to keep it.
        message.reports.filter(resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolved_by=user
        )
    return message, True


@transaction.atomic
def reports_dismiss(*, user: User, message: Message) -> int:
    """A manager closes a message's open reports and keeps the message as it is."""
    _own_or_managed(user=user, room_id=message.room_id, seq=message.seq, manage=True)
    return message.reports.filter(resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=user
    )


@transaction.atomic
def message_report(*, user: User, room_id: int, seq: int, reason: str) -> Report:
    """A member reports a message to the managers. The author is never told who."""
    room, _manager = room_member_check(user=user, room_id=room_id)
    message = Message.objects.filter(room=room, seq=seq).first()
    if message is None:
        raise RoomError("not_found", _("There is no such message in this room."))
    if message.kind == MessageKind.SYSTEM:
        raise RoomError("not_reportable", _("The server's own messages cannot be reported."))
    reason = _clean_text(reason)
    if not reason or _is_invisible(reason):
        raise RoomError("empty_reason", _("Say briefly why you report this message."))
    if len(reason) > REASON_MAX_LENGTH:
        raise RoomError(
            "reason_too_long",
            _("A reason holds at most %(max)d characters.") % {"max": REASON_MAX_LENGTH},
        )
    report, created = Report.objects.get_or_create(
        message=message, reporter=user, defaults={"reason": reason}
    )
    if not created:
        report.reason = reason
        report.resolved_at = None
        report.resolved_by = None
        report.created_at = timezone.now()
        report.save(update_fields=["reason", "resolved_at", "resolved_by", "created_at"])
    return report


def _presence_changed(room_id: int, before: list[dict]) -> None:
    if room_online(room_id=room_id) != before:
        _presence_announce(room_id)


def _presence_announce(room_id: int) -> None:
    event_send_on_commit(room_group(room_id), presence_event(room_group(room_id)))


def _online_elsewhere(*, room_id: int, user_id: int, channel_name: str) -> bool:
    """Whether the user has another live connection to the room."""
    cutoff = timezone.now() - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
    return (
        Presence.objects.filter(room_id=room_id, user_id=user_id, last_seen__gte=cutoff)
        .exclude(channel_name=channel_name)
        .exists()
    )


def presence_join(*, user: User, room_id: int, channel_name: str) -> None:
    """A connection (a new `channel_name`) opens. The room is told (each process's hub
    then reads the list, at most once a second) only when the user was not online there
    yet: a join costs two statements, in a room of 5 or of 500."""
    was_online = _online_elsewhere(room_id=room_id, user_id=user.pk, channel_name=channel_name)
    Presence.objects.create(
        channel_name=channel_name, room_id=room_id, user=user, last_seen=timezone.now()
    )
    if not was_online:
        _presence_announce(room_id)


@transaction.atomic
def presence_leave(*, room_id: int, channel_name: str) -> None:
    cutoff = timezone.now() - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
    # Connections of dead processes go too: the room's last live one may be this.
    Presence.objects.filter(room_id=room_id, last_seen__lt=cutoff).delete()
    row = Presence.objects.filter(channel_name=channel_name).first()
    if row is None:
        return
    row.delete()
    if not _online_elsewhere(room_id=room_id, user_id=row.user_id, channel_name=channel_name):
        _presence_announce(room_id)


@transaction.atomic
def presence_beat(*, connections: dict[str, tuple[int, int]]) -> dict[int, tuple[int, list]]:
    """A server process's heartbeat for all its sockets at once.

    `connections` maps each socket's connection id to its (room id, user id). Refreshes
    them in one statement (recreating rows swept meanwhile), drops the connections of
    these rooms whose heartbeat stopped (their process died) and tells those rooms.
    Returns each room's (last seq, who is online)."""
    now = timezone.now()
    ids = list(connections)
    Presence.objects.filter(channel_name__in=ids).update(last_seen=now)
    present = set(
        Presence.objects.filter(channel_name__in=ids).values_list("channel_name", flat=True)
    )
    Presence.objects.bulk_create(
        [
            Presence(channel_name=cid, room_id=room_id, user_id=user_id, last_seen=now)
            for cid, (room_id, user_id) in connections.items()
            if cid not in present
        ],
        ignore_conflicts=True,
    )
    room_ids = {room_id for room_id, _user in connections.values()}
    cutoff = now - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
    stale = Presence.objects.filter(room_id__in=room_ids, last_seen__lt=cutoff)
    for room_id in set(stale.values_list("room_id", flat=True)):
        before = room_online(room_id=room_id, include_stale=True)
        stale.filter(room_id=room_id).delete()
        _presence_changed(room_id, before)
    last_seqs = dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "last_seq"))
    return {
        room_id: (last_seqs.get(room_id, 0), room_online(room_id=room_id)) for room_id in room_ids
    }


def typing_send(*, user: User, room_id: int) -> None:
    """`user` is typing: the room's other members are told, nothing is stored. The caller
    checked the membership when the socket opened (a kick closes it)."""
    frame = {"type": "typing", "user": {"id": user.pk, "name": user.display_name}}
    event_send_now(room_group(room_id), frame_event(room_group(room_id), frame, skip_user=user.pk))
