"""Reads about rooms: who may enter, history, presence."""

from datetime import UTC, timedelta

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from communities.models import Community, Membership
from communities.selectors import community_can_manage, community_can_read, community_is_visible

from .enums import RoomKind
from .models import Message, Presence, Report, Room

HISTORY_DEFAULT = 50
HISTORY_MAX = 100


class RoomNotFound(Room.DoesNotExist):
    """No such room, or one in a community the user may not know exists (4404)."""


class NotRoomMember(Exception):
    """The room exists and the user may know it, but is not an active member (4403)."""


def room_access(*, user, room_id: int) -> tuple[Room, bool]:
    """The room and whether `user` manages it. Raises RoomNotFound or NotRoomMember."""
    room = Room.objects.select_related("community").filter(pk=room_id).first()
    if room is None:
        raise RoomNotFound(room_id)
    membership = Membership.objects.filter(community=room.community, user=user).first()
    if not community_is_visible(user=user, community=room.community, membership=membership):
        raise RoomNotFound(room_id)
    if not community_can_read(user=user, membership=membership):
        raise NotRoomMember(room_id)
    return room, community_can_manage(user=user, membership=membership)


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
        "author": {"id": message.author_id, "name": message.author.display_name},
        "body": "" if gone else message.body,
        "created_at": _iso(message.created_at),
        "edited_at": _iso(message.edited_at),
        "deleted": message.deleted_at is not None,
        "hidden": message.hidden_at is not None,
        "client_id": message.client_id,
    }


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
