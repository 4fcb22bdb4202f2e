"""Reads about rooms: who may enter, history, presence, the state a socket starts with."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from communities.models import Community, Membership
from communities.selectors import community_can_manage, community_can_read, community_is_visible
from live.clock import iso_utc, server_time

from .enums import RoomKind
from .errors import RoomError
from .models import BODY_MAX_LENGTH, Message, Presence, Report, Room

HISTORY_DEFAULT = 50
HISTORY_MAX = 100


class RoomNotFound(Room.DoesNotExist):
    """No such room, or one in a community the user may not know exists (4404)."""


class NotRoomMember(Exception):
    """The room exists and the user may know it, but is not an active member (4403)."""


def _community_members_read(*, user, room: Room, membership: Membership | None) -> bool:
    """The community's active members (and site staff) read the room."""
    return community_can_read(user=user, membership=membership)


# Who reads a room, by its kind. A meeting's side chat is read like the community's room
# (the meetings app may narrow it: attendees only, say) without touching the socket.
ROOM_READERS = {
    RoomKind.COMMUNITY: _community_members_read,
    RoomKind.MEETING: _community_members_read,
}


def room_access(*, user, room_id: int) -> tuple[Room, bool]:
    """The room and whether `user` manages it. Raises RoomNotFound or NotRoomMember."""
    room = Room.objects.select_related("community").filter(pk=room_id).first()
    if room is None:
        raise RoomNotFound(room_id)
    membership = Membership.objects.filter(community=room.community, user=user).first()
    if not community_is_visible(user=user, community=room.community, membership=membership):
        raise RoomNotFound(room_id)
    if not ROOM_READERS[room.kind](user=user, room=room, membership=membership):
        raise NotRoomMember(room_id)
    return room, community_can_manage(user=user, membership=membership)


def room_of_community(*, user, community: Community, membership: Membership | None, room_id: int):
    """A room of `community` (already visible to `user`) for its page, by the socket's rule
    (ROOM_READERS). Raises RoomNotFound (not this community's room) or NotRoomMember."""
    room = Room.objects.filter(pk=room_id, community=community).first()
    if room is None:
        raise RoomNotFound(room_id)
    room.community = community
    if not ROOM_READERS[room.kind](user=user, room=room, membership=membership):
        raise NotRoomMember(room_id)
    return room


def room_member_check(*, user, room_id: int) -> tuple[Room, bool]:
    """The room and whether `user` manages it; RoomError `not_member` when the membership
    ended (its kick may have been lost, so every action checks again)."""
    try:
        return room_access(user=user, room_id=room_id)
    except (RoomNotFound, NotRoomMember):
        raise RoomError("not_member", _("You are not a member of this room any more.")) from None


def room_history_for(*, user, room_id: int, **page) -> tuple[list[Message], bool]:
    """`room_history` for a member (a former member whose kick was lost reads nothing)."""
    room, _manager = room_member_check(user=user, room_id=room_id)
    return room_history(room=room, **page)


def room_state(*, room: Room, user, is_manager: bool, online: list[dict] | None) -> dict:
    """The first frame of a socket: the room, its last seq, who is online, the limits.

    `online`: the list this process's sockets in the room hold, if any (reading it again
    costs a query over the whole room per arrival); the user is added to it. A change it
    lacks follows in a presence frame within the second."""
    you = {"id": user.pk, "name": user.display_name}
    return {
        "type": "room.state",
        "room": {"id": room.pk, "title": room.title, "kind": room.kind},
        "last_seq": room_last_seq(room_id=room.pk),
        "online": _with(online, you) if online is not None else room_online(room_id=room.pk),
        "you": {**you, "manager": is_manager},
        "limits": {
            "body": BODY_MAX_LENGTH,
            "messages": settings.ROOM_RATE_LIMIT_MESSAGES,
            "seconds": settings.ROOM_RATE_LIMIT_SECONDS,
            "heartbeat": settings.LIVE_HEARTBEAT_SECONDS,
        },
        "server_time": server_time(),
    }


def _with(online: list[dict], person: dict) -> list[dict]:
    """The online list with `person` in it, in the list's order (by name, then id)."""
    if any(entry["id"] == person["id"] for entry in online):
        return online
    return sorted([*online, person], key=lambda entry: (entry["name"], entry["id"]))


def community_room(*, community: Community) -> Room | None:
    return Room.objects.filter(community=community, kind=RoomKind.COMMUNITY).first()


def _messages(room: Room) -> QuerySet[Message]:
    return Message.objects.filter(room=room).select_related("author")


def room_history(
    *, room: Room, before: int | None = None, after: int | None = None, limit: int = HISTORY_DEFAULT
) -> tuple[list[Message], bool]:
    """Messages in seq order and whether more lie beyond them.

    `after`: the first `limit` messages after that seq (catching up, forwards).
    Otherwise the last `limit` messages before `before` (or the newest), paging backwards.
    """
    limit = max(1, min(limit, HISTORY_MAX))
    qs = _messages(room)
    if after is not None:
        page = list(qs.filter(seq__gt=after).order_by("seq")[: limit + 1])
        return page[:limit], len(page) > limit
    if before is not None:
        qs = qs.filter(seq__lt=before)
    page = list(qs.order_by("-seq")[: limit + 1])
    has_more = len(page) > limit
    return list(reversed(page[:limit])), has_more


CHANGES_MAX = 500


def room_changes(*, room: Room, up_to: int, since) -> list[Message]:
    """Messages up to seq `up_to` changed after `since` (edited, deleted, hidden or
    restored), in seq order: what a client that was away has stale."""
    return list(
        _messages(room).filter(seq__lte=up_to, changed_at__gt=since).order_by("seq")[:CHANGES_MAX]
    )


def room_last_seq(*, room_id: int) -> int:
    return Room.objects.values_list("last_seq", flat=True).get(pk=room_id)


def room_online(*, room_id: int, include_stale: bool = False) -> list[dict]:
    """Who has a live connection to the room now, once each, by name.

    `include_stale` also counts connections whose heartbeat stopped but whose rows are not
    swept yet (what the room was last told)."""
    presences = Presence.objects.filter(room_id=room_id)
    if not include_stale:
        cutoff = timezone.now() - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
        presences = presences.filter(last_seen__gte=cutoff)
    rows = (
        presences.values_list("user_id", "user__display_name")
        .distinct()
        .order_by("user__display_name", "user_id")
    )
    return [{"id": user_id, "name": name} for user_id, name in rows]


def message_frame(message: Message) -> dict:
    """A message as clients see it. Hidden or deleted messages keep their place (seq)
    but not their text."""
    gone = message.deleted_at is not None or message.hidden_at is not None
    return {
        "seq": message.seq,
        "id": message.pk,
        "room": message.room_id,
        "kind": message.kind,
        "author": (
            {"id": message.author_id, "name": message.author.display_name}
            if message.author_id is not None
            else None
        ),
        "body": "" if gone else message.body,
        "created_at": iso_utc(message.created_at),
        "edited_at": iso_utc(message.edited_at),
        "deleted": message.deleted_at is not None,
        "hidden": message.hidden_at is not None,
        "client_id": message.client_id,
    }


def moderation_queue(*, community: Community) -> QuerySet[Message]:
    """Messages in the community's rooms with open reports, or hidden; most recently
    reported first."""
    reports = Report.objects.filter(message=OuterRef("pk"))
    open_count = (
        reports.filter(resolved_at__isnull=True)
        .order_by()
        .values("message")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_report = reports.order_by("-created_at").values("created_at")[:1]
    return (
        Message.objects.filter(room__community=community)
        .annotate(
            open_reports=Coalesce(Subquery(open_count), 0),
            last_report=Subquery(last_report),
        )
        .filter(Q(open_reports__gt=0) | Q(hidden_at__isnull=False))
        .select_related("author", "room", "hidden_by")
        .prefetch_related("reports__reporter")
        .order_by(F("last_report").desc(nulls_last=True), "-created_at")
    )
